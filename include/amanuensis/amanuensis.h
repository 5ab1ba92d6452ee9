// Amanuensis: Whisper speech-to-text.
//
// The whole public surface of the library. One loaded `Model` is immutable and may be shared by any
// number of threads; every call to `transcribe` carries its own decoding state.
//
//   auto model = amanuensis::Model::load({.path = "models/base"});
//   auto result = model.transcribe(amanuensis::decode_audio_file("speech.mp3"), {});
//   for (const auto& segment : result.segments) std::cout << segment.text << '\n';
//
// Every failure (unreadable audio, a broken model folder, a bad option) is reported by throwing
// `amanuensis::Error` with a message that names the input and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amanuensis {

/// The one exception type the library throws for bad input, models or options.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by `Model::transcribe` when its stop token is triggered (a client went away, say).
class Cancelled : public Error {
 public:
  Cancelled() : Error("transcription cancelled") {}
};

/// Sample rate of every waveform the library works on.
inline constexpr int kSampleRate = 16000;

/// Mono 16 kHz samples in [-1, 1].
using Waveform = std::vector<float>;

/// Decodes any audio or video file FFmpeg can read (WAV, MP3, FLAC, OGG, M4A/AAC, MP4, ...),
/// mixes it to mono and resamples it to 16 kHz.
Waveform decode_audio_file(const std::filesystem::path& path);

/// Same as `decode_audio_file`, for a file held in memory (an HTTP upload, say).
Waveform decode_audio_bytes(std::span<const std::uint8_t> bytes);

/// The two channels of a file, each 16 kHz (faster-whisper's `decode_audio(split_stereo=True)`):
/// the input is mixed to stereo first, so mono input comes out in both channels.
struct StereoWaveform {
  Waveform left;
  Waveform right;
};
StereoWaveform decode_audio_file_stereo(const std::filesystem::path& path);
StereoWaveform decode_audio_bytes_stereo(std::span<const std::uint8_t> bytes);

/// How to load a model.
struct ModelOptions {
  /// A Whisper model in any format model_format() recognises: a CTranslate2 folder (model.bin,
  /// config.json, vocabulary.{json,txt}), a Hugging Face folder (model.safetensors or its
  /// sharded index, config.json, tokenizer.json) or a whisper.cpp ggml file.
  std::filesystem::path path;
  /// Threads for compute; 0 means one per available core.
  int threads = 0;
  /// Weight and arithmetic precision, as CTranslate2 names them: "default" (the stored type,
  /// float16 computed in float32 on CPUs), "float32", "float16", "int8", "int8_float32".
  std::string compute_type = "default";
  /// Compute device: "auto", "cpu", "cuda", "opencl" or "npu". "auto" (or an empty string) takes
  /// $AMANUENSIS_DEVICE when it is set, else tries npu, cuda, opencl, cpu in that order and uses
  /// the first that initialises and passes a self-test against the CPU. A named device that fails
  /// falls back to the CPU too. Either way `Model::backend_reports()` says what happened and why.
  std::string device = "auto";
  /// Which device of that backend, counting from 0 (faster-whisper's device_index); unset lets
  /// the backend choose (CUDA: the one with the most memory; OpenCL: a GPU before other
  /// devices). The cpu backend has device 0 only. A device index the backend does not have is a
  /// failure of that backend: it falls back to the CPU, and backend_reports() say why.
  std::optional<int> device_index = std::nullopt;
  /// Concurrent transcriptions whose decoder steps may run side by side; the steps of any beyond
  /// them merge into shared steps, which read the decoder's weights once for all (see Timings).
  /// 0: 1 on a device (every concurrent step merges), no limit on the CPU (nothing merges: there
  /// cores stepping their own requests are as fast; float32 products of a few rows even slower).
  int decode_lanes = 0;
};

/// The format of the model at `path`: "ct2", "hf" or "ggml"; empty when it is none of them.
std::string model_format(const std::filesystem::path& path);

/// What `amanuensis convert` does: reads a model in any format and writes it in another.
struct ConvertOptions {
  /// The model to read, in any format model_format() recognises.
  std::filesystem::path model;
  /// The format to write: "ct2", "hf" or "ggml".
  std::string to;
  /// How to store the weights. ct2: float32, float16, bfloat16 or int8; hf: float32, float16 or
  /// bfloat16; ggml: f32, f16, q8_0, q5_0, q5_1, q4_0 or q4_1 (f16 and f32 also take the names
  /// float16 and float32). Empty: float16.
  std::string quantize;
  /// The folder (ct2, hf) or file (ggml) to write; it must not exist yet.
  std::filesystem::path output;
};

/// Converts a model. Throws amanuensis::Error naming the problem: an unknown format or type, a
/// broken source, an output that exists. Nothing is left at `output` when it fails.
void convert_model(const ConvertOptions& options);

/// Voice activity detection (Silero VAD v6, run natively). Names and defaults follow
/// faster-whisper's `VadOptions`.
struct VadOptions {
  /// A 32 ms window whose speech probability is at least this is speech.
  float threshold = 0.5F;
  /// Speech ends once a window falls below this; unset means max(threshold - 0.15, 0.01).
  std::optional<float> neg_threshold;
  /// Speech spans shorter than this are dropped.
  int min_speech_duration_ms = 0;
  /// Longer spans are split, at a silence of at least 98 ms when there is one.
  float max_speech_duration_s = std::numeric_limits<float>::infinity();
  /// Silence that must pass before a span ends.
  int min_silence_duration_ms = 2000;
  /// Added on each side of every span.
  int speech_pad_ms = 400;
};

/// One stretch of speech, in samples of the 16 kHz waveform: [start, end).
struct SpeechSpan {
  std::int64_t start = 0;
  std::int64_t end = 0;
};

/// Where the waveform holds speech, as faster-whisper's `get_speech_timestamps` finds it.
/// `vad_model`: a silero_vad_v6.onnx file; empty means $AMANUENSIS_VAD_MODEL when set, else the
/// copy built into the library (Error when neither exists). Each model is loaded once per process
/// and shared; any number of threads may call this at once. Runs on the calling thread only.
/// Throws Error for invalid options (see validate) or a missing or broken model file.
std::vector<SpeechSpan> detect_speech(std::span<const float> audio, const VadOptions& options = {},
                                      const std::filesystem::path& vad_model = {});

/// The VAD's speech probability of every 512-sample (32 ms) window of the waveform, the last
/// window zero-padded (faster-whisper's SileroVADModel over the padded audio).
std::vector<float> speech_probabilities(std::span<const float> audio,
                                        const std::filesystem::path& vad_model = {});

/// The same probabilities for audio that arrives in pieces (live input): one per 512-sample
/// (32 ms) window as soon as the window is complete, the VAD's state carried from push to push.
/// Window i covers samples [512 i, 512 i + 512) of all the audio pushed. Equal to
/// speech_probabilities() of all that audio for every window but that function's last, which it
/// zero-pads. One stream serves one caller at a time; streams share the loaded model.
class VadStream {
 public:
  /// `vad_model`: as for detect_speech. Throws Error when there is no model.
  explicit VadStream(const std::filesystem::path& vad_model = {});
  ~VadStream();
  VadStream(VadStream&& other) noexcept;
  VadStream& operator=(VadStream&& other) noexcept;
  VadStream(const VadStream&) = delete;
  VadStream& operator=(const VadStream&) = delete;

  /// Appends 16 kHz samples; returns the probability of each window they complete, in order.
  std::vector<float> push(std::span<const float> audio);
  /// Forgets all audio and state: the next window is window 0 again.
  void reset();
  /// Windows completed so far.
  [[nodiscard]] std::int64_t windows() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Throws Error naming the field when an option is out of range (threshold outside [0, 1],
/// negative durations, ...).
void validate(const VadOptions& options);

/// A word or phrase to favour while decoding, with how strongly (TranscribeOptions::keywords).
struct Keyword {
  std::string text;
  /// Scales the bonus each of its tokens earns; above 0.
  float weight = 1.0F;
};

/// Keywords from their command-line and form spelling: comma-separated, each optionally followed
/// by ":weight" ("Gutenberg:2,Caxton"); spaces around entries are dropped. Throws Error naming
/// the entry for an empty one or a weight that is not a number above 0 (at most 10).
std::vector<Keyword> parse_keywords(std::string_view text);
/// Throws Error when the keyword is empty or its weight is not above 0 and at most 10
/// (transcribe() checks every keyword so).
void validate(const Keyword& keyword);

/// Decoding options. Names and defaults follow faster-whisper's `WhisperModel.transcribe()`.
///
/// Batched mode (`batch_size` > 0) follows faster-whisper's `BatchedInferencePipeline`: the audio
/// is cut into speech chunks of at most 30 seconds (`chunk_length`), `batch_size` chunks are
/// encoded and decoded together, each chunk on its own (no previous text as prompt, only the first
/// temperature, no quality fallback or no-speech skip, prefix and hallucination_silence_threshold
/// unused).
struct TranscribeOptions {
  /// ISO-639-1 code of the spoken language; empty means detect it (see the two options below).
  std::string language;
  /// Detection looks at up to this many 30-second windows from the start, and stops at the
  /// first whose likeliest language has a probability above `language_detection_threshold`;
  /// when none has, the language likeliest in the most windows wins, with its highest
  /// probability (faster-whisper's detect_language).
  int language_detection_segments = 1;
  float language_detection_threshold = 0.5F;
  /// ISO-639-1 codes detection may choose from (their probabilities renormalised among them);
  /// empty: every language the model knows.
  std::vector<std::string> languages;
  /// Detect the language of every 30-second window (or batched chunk) and decode it in that
  /// language, for speech that switches language (faster-whisper's `multilingual`). A window
  /// whose likeliest language is not above `language_detection_threshold` keeps the language it
  /// would have had. Each segment then carries its `language`. Each window's features are floored
  /// by its own loudest frame, not the recording's (faster-whisper's), so that a window decodes as
  /// it would alone.
  bool multilingual = false;
  /// Fill each segment's `logprobs`: every text token with its log-probability (OpenAI's
  /// include[]=logprobs).
  bool logprobs = false;
  /// "transcribe", or "translate" (into English; multilingual models only).
  std::string task = "transcribe";

  /// Beams for beam search at temperature 0; 1 means greedy decoding.
  int beam_size = 5;
  /// Candidates sampled at each temperature above 0; the likeliest is kept.
  int best_of = 5;
  /// Beam search stops once beam_size * patience hypotheses have finished.
  float patience = 1.0F;
  /// Hypotheses are ranked by sum_logprob / length^length_penalty.
  float length_penalty = 1.0F;
  /// Tried in order until a window's decode passes the quality thresholds below.
  std::vector<float> temperatures = {0.0F, 0.2F, 0.4F, 0.6F, 0.8F, 1.0F};
  /// A decode whose text compresses better than this (gzip ratio) is a repetition loop.
  std::optional<float> compression_ratio_threshold = 2.4F;
  /// A decode whose average token log-probability is below this is too uncertain.
  std::optional<float> log_prob_threshold = -1.0F;
  /// Windows whose no-speech probability exceeds this (with a low log-probability) are skipped.
  std::optional<float> no_speech_threshold = 0.6F;
  /// Feed the previous window's text as a prompt to the next window.
  bool condition_on_previous_text = true;
  /// After a fallback above this temperature, the previous text stops being used as prompt.
  float prompt_reset_on_temperature = 0.5F;
  /// Text to condition the first window on (names, spelling, style).
  std::string initial_prompt;
  /// Token ids to condition the first window on, in place of `initial_prompt` (faster-whisper's
  /// initial_prompt given as token ids); sequential mode only.
  std::vector<int> initial_prompt_tokens;
  /// Text the first window's transcript must start with.
  std::string prefix;
  /// Words to favour, given to every window as a prompt (ignored when `prefix` is set).
  std::string hotwords;
  /// Words and phrases to favour inside the search (contextual biasing): while a hypothesis
  /// spells one (with or without a leading space, as given or capitalised), each of its tokens
  /// earns a log-probability bonus times the keyword's weight, taken back if the keyword is left
  /// unfinished. Reported log-probabilities stay the model's. Works with hotwords and prompts,
  /// and in batched mode.
  std::vector<Keyword> keywords;
  /// Forbid a blank or end-of-text as the first sampled token.
  bool suppress_blank = true;
  /// Token ids never to sample; -1 stands for the model's non-speech set.
  std::vector<int> suppress_tokens = {-1};
  /// Decode text only, one segment per window. Unset: false in sequential mode, true in batched.
  std::optional<bool> without_timestamps;
  /// Latest start time, in seconds, the first timestamp of a window may have.
  float max_initial_timestamp = 1.0F;
  /// Cap on tokens sampled per window; unset means until the decoder's context is full.
  std::optional<int> max_new_tokens;
  /// Time each word from the cross-attention of the model's alignment heads.
  bool word_timestamps = false;
  /// Punctuation merged into the next word (word timestamps).
  std::string prepend_punctuations = "\"'\u201c\u00bf([{-";
  /// Punctuation merged into the previous word (word timestamps).
  std::string append_punctuations = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";
  /// With word timestamps: skip silences longer than this many seconds around likely
  /// hallucinations.
  std::optional<float> hallucination_silence_threshold;
  /// Start,end pairs in seconds of the parts of the audio to transcribe; empty means all of it.
  std::vector<float> clip_timestamps;
  /// Seed of the sampler used at temperatures above 0.
  std::uint64_t seed = 0;
  /// Logits of tokens already in the sequence are divided (positive) or multiplied (negative) by
  /// this; above 1 discourages repetition (CTranslate2's repetition_penalty).
  float repetition_penalty = 1.0F;
  /// Forbid any n-gram of this many tokens from appearing twice; 0 turns it off.
  int no_repeat_ngram_size = 0;

  /// Transcribe only the speech the VAD finds; its times are mapped back to the whole audio.
  /// Unset: off in sequential mode, on in batched mode.
  std::optional<bool> vad_filter;
  /// VAD settings. Unset: VadOptions{} in sequential mode; in batched mode
  /// min_silence_duration_ms 160 (faster-whisper's batched defaults). Batched mode always caps
  /// max_speech_duration_s at 30 seconds, as faster-whisper does.
  std::optional<VadOptions> vad_parameters;
  /// silero_vad_v6.onnx to use; empty: see detect_speech.
  std::filesystem::path vad_model;
  /// Chunks encoded and decoded together; 0 is sequential (faster-whisper's WhisperModel),
  /// 1 or more the batched pipeline (faster-whisper's BatchedInferencePipeline).
  int batch_size = 0;
  /// Seconds of audio a window holds, 1 to 30 (faster-whisper's chunk_length); unset: 30. A
  /// shorter window is padded to the model's 30 seconds, as faster-whisper pads it, and language
  /// detection looks at windows of this length too. In batched mode: the longest chunk the
  /// speech is merged into, and the VAD's max_speech_duration_s.
  std::optional<int> chunk_length = std::nullopt;
};

/// The VAD settings a transcription with these options uses when `vad_parameters` is unset:
/// VadOptions{} in sequential mode, min_silence_duration_ms 160 in batched mode (faster-whisper's
/// batched defaults). Batched mode also caps max_speech_duration_s at 30 whatever is set.
VadOptions default_vad_options(const TranscribeOptions& options);

/// One word with its timing, as faster-whisper's `Word`.
struct Word {
  double start = 0.0;
  double end = 0.0;
  std::string word;
  float probability = 0.0F;
};

/// One text token of a segment with its log-probability (OpenAI's `logprobs`).
struct TokenLogprob {
  /// The token's text, valid UTF-8 (a part of a character shows as U+FFFD).
  std::string token;
  /// The token's bytes as the vocabulary has them: a token may hold part of a UTF-8 character.
  std::string bytes;
  float logprob = 0.0F;
};

/// One timed piece of the transcript, as faster-whisper's `Segment`.
struct Segment {
  int id = 0;
  /// Mel frame (10 ms) at which the window that produced this segment started.
  int seek = 0;
  double start = 0.0;  ///< seconds from the start of the audio
  double end = 0.0;    ///< seconds from the start of the audio
  std::string text;
  std::vector<int> tokens;
  float temperature = 0.0F;
  float avg_logprob = 0.0F;
  float compression_ratio = 0.0F;
  float no_speech_prob = 0.0F;
  std::vector<Word> words;  ///< filled when word_timestamps is on
  std::string language;     ///< the language it was decoded in; set with `multilingual` only
  /// Its text tokens' log-probabilities under the model, in order (timestamps left out); set with
  /// TranscribeOptions::logprobs only.
  std::vector<TokenLogprob> logprobs;
};

/// A finished transcription.
struct Transcription {
  std::string language;
  float language_probability = 1.0F;
  /// Every language's probability, likeliest first (when the language was detected).
  std::vector<std::pair<std::string, float>> all_language_probs;
  double duration = 0.0;  ///< seconds of audio
  /// Seconds of audio left after the VAD filter (equal to duration without it).
  double duration_after_vad = 0.0;
  std::vector<Segment> segments;
};

/// Called with each segment as soon as its window is decoded; lets callers stream results.
using SegmentCallback = std::function<void(const Segment&)>;

/// Called once per transcription, before its first window is decoded, with what is settled by
/// then: language, language_probability, all_language_probs, duration and duration_after_vad
/// (segments still empty). faster-whisper's TranscriptionInfo is known at the same point.
using InfoCallback = std::function<void(const Transcription& info)>;

/// Sizes of a loaded model, read from its weights.
struct ModelInfo {
  std::string name;  ///< folder name, e.g. "base"
  bool multilingual = false;
  int n_mels = 0;
  int n_vocab = 0;
  int n_audio_layers = 0;
  int n_text_layers = 0;
  int n_state = 0;
  int n_heads = 0;
};

/// One compute backend as detection and selection saw it (`amanuensis devices`, `/status`).
struct BackendReport {
  std::string name;  ///< "npu", "cuda", "opencl" or "cpu"
  bool available =
      false;              ///< initialised and passed its self-test (or, if not tried, was detected)
  bool selected = false;  ///< the backend the model computes with
  std::string reason;     ///< why it is or is not available, and why it was or was not chosen
  /// Device name, memory, compute units, driver..., and for the selected backend its run-time
  /// record (failures, requests retried on the CPU).
  std::vector<std::pair<std::string, std::string>> details;
};

/// How much a log line matters.
enum class LogLevel { kError, kWarning, kInfo };

/// Receives the library's log lines (backend selection, a device failing over to the CPU, a bad
/// AMANUENSIS_CPU_ISA): a few a process, from whichever thread meets the event, so it must be
/// thread-safe. The message has no prefix and no newline.
using LogCallback = std::function<void(LogLevel level, const std::string& message)>;

/// Sends the library's log lines to `callback` instead of standard error (where each is written
/// as one "amanuensis: <message>" line); an empty callback restores standard error.
void set_log_callback(LogCallback callback);

/// Every backend this build knows, in `auto`'s order (npu, cuda, opencl, cpu), each detected,
/// initialised and self-tested; `selected` marks the one `Model::load` would choose for `device`.
/// Backends left out of the build are listed as unavailable, "not built in (...)".
std::vector<BackendReport> list_backends(const std::string& device = "auto");

/// Time the model has spent since it was loaded, summed over every request and thread (for
/// benchmarks; whisper.cpp's whisper_get_timings gives the same), and how many of its decoder
/// steps concurrent transcriptions shared (one shared step feeds every sequence in it, reading
/// the decoder's weights once for all of them; see ModelOptions::decode_lanes).
struct Timings {
  double encoder_seconds = 0;       ///< encoding windows and building their cross-attention caches
  double decoder_seconds = 0;       ///< decoding steps
  std::int64_t decoder_calls = 0;   ///< decoder steps; a shared step counts once
  std::int64_t decoded_tokens = 0;  ///< token rows fed to the decoder (every beam counts)
  std::int64_t batched_calls = 0;   ///< steps shared by several transcriptions
  std::int64_t batched_requests = 0;  ///< transcriptions' steps in them (at least 2 each)
  std::int64_t batched_tokens = 0;    ///< token rows of the shared steps
  /// On a device backend (OpenCL, CUDA; not the CPU, nor the NPU, whose decoder steps run on the
  /// CPU): what crossed the bus during decoder steps, and how often the host waited for the device.
  bool device_traffic = false;                    ///< whether the three below are measured
  std::int64_t decoder_device_syncs = 0;          ///< waits of the host for the device
  std::int64_t decoder_host_to_device_bytes = 0;  ///< bytes sent to the device
  std::int64_t decoder_device_to_host_bytes = 0;  ///< bytes brought back
};

/// A Whisper model's tokenizer: its vocabulary, special tokens and byte-level BPE, as the model's
/// transcriptions use them (faster-whisper's Tokenizer is built on the same). Cheap to copy.
class Tokenizer {
 public:
  /// Reads vocabulary.json or vocabulary.txt, and tokenizer.json (its merges, for encode), from a
  /// model folder.
  static Tokenizer load(const std::filesystem::path& model_dir);

  struct SpecialTokens {
    int end_of_text = 0;
    int start_of_transcript = 0;
    int translate = 0;
    int transcribe = 0;
    int start_of_lm = 0;
    int start_of_prev = 0;
    int no_speech = 0;
    int no_timestamps = 0;
    int timestamp_begin = 0;  ///< <|0.00|>; each later id adds 0.02 s
  };
  [[nodiscard]] SpecialTokens special() const;
  [[nodiscard]] int size() const;
  /// Id of the language token <|code|>, if the vocabulary has it.
  [[nodiscard]] std::optional<int> language_token(const std::string& code) const;
  /// Token ids of UTF-8 text, without special tokens. Throws Error when the model folder had no
  /// tokenizer.json.
  [[nodiscard]] std::vector<int> encode(const std::string& text) const;
  /// UTF-8 text of the text tokens (ids below end_of_text; others are skipped); bytes that are not
  /// valid UTF-8 become U+FFFD.
  [[nodiscard]] std::string decode(std::span<const int> tokens) const;

  struct Impl;

 private:
  friend class Model;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

/// A loaded Whisper model. Cheap to copy (copies share the weights).
class Model {
 public:
  static Model load(const ModelOptions& options);

  [[nodiscard]] const ModelInfo& info() const;

  /// The model's tokenizer (shares the model's vocabulary).
  [[nodiscard]] Tokenizer tokenizer() const;

  /// What selection tried for `ModelOptions::device`, in order, and why each backend was or was
  /// not chosen; the selected one carries its run-time record. A device that fails during a
  /// request makes that request run again on the CPU (logged on standard error, counted here).
  [[nodiscard]] std::vector<BackendReport> backend_reports() const;

  [[nodiscard]] Timings timings() const;

  /// The token ids decoding never samples for these `suppress_tokens` (-1: the model's non-speech
  /// set) plus the special tokens, sorted: faster-whisper's TranscriptionOptions.suppress_tokens.
  [[nodiscard]] std::vector<int> suppressed_tokens(const std::vector<int>& suppress_tokens) const;

  /// What the compute backend runs with, e.g. "cpu avx512 x2, vector ops AVX3, blas SkylakeX".
  [[nodiscard]] std::string backend_description() const;

  /// Transcribes a 16 kHz mono waveform. `on_segment`, if set, sees each segment as it is made.
  /// Calls from several threads run at once, their decoder steps shared (see Timings).
  /// When `stop` is triggered, the work ends soon after by throwing `Cancelled`. `on_info`, if
  /// set, sees the language and durations before the first window is decoded (once, even when
  /// a failing device makes the request run again on the CPU).
  [[nodiscard]] Transcription transcribe(std::span<const float> audio,
                                         const TranscribeOptions& options,
                                         const SegmentCallback& on_segment = {},
                                         std::stop_token stop = {},
                                         const InfoCallback& on_info = {}) const;

  /// faster-whisper's `detect_language(features=...)`: the language of log-mel features laid out
  /// [n_mels, n_frames] row-major (as faster-whisper's FeatureExtractor makes them), over up to
  /// `segments` 30-second windows stopping at the first whose likeliest language's probability
  /// is above `threshold` (see TranscribeOptions::language_detection_segments). Fills language,
  /// language_probability and all_language_probs; English-only models give "en" at 1.
  [[nodiscard]] Transcription detect_language(std::span<const float> features, int n_frames,
                                              int segments = 1, float threshold = 0.5F,
                                              const std::stop_token& stop = {}) const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace amanuensis
