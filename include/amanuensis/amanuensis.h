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
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace amanuensis {

/// The one exception type the library throws for bad input, models or options.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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

/// How to load a model.
struct ModelOptions {
  /// A CTranslate2 Whisper model folder: model.bin, config.json and vocabulary.{json,txt}.
  std::filesystem::path path;
  /// Threads for compute; 0 means one per available core.
  int threads = 0;
};

/// Decoding options. Names and defaults follow faster-whisper's `transcribe()`.
struct TranscribeOptions {
  /// ISO-639-1 code of the spoken language; empty means English on English-only models.
  std::string language;
  /// Feed the previous window's text as a prompt to the next window.
  bool condition_on_previous_text = true;
  /// Forbid the model's non-speech tokens (faster-whisper's suppress_tokens=[-1]).
  bool suppress_tokens = true;
  /// Forbid a blank or end-of-text as the first sampled token.
  bool suppress_blank = true;
  /// Latest start time, in seconds, the first timestamp of a window may have.
  float max_initial_timestamp = 1.0F;
  /// Windows whose no-speech probability exceeds this (with a low log-probability) are skipped.
  std::optional<float> no_speech_threshold = 0.6F;
  /// Average log-probability below which a window counts as a poor decode.
  std::optional<float> log_prob_threshold = -1.0F;
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
};

/// A finished transcription.
struct Transcription {
  std::string language;
  double duration = 0.0;  ///< seconds of audio
  std::vector<Segment> segments;
};

/// Called with each segment as soon as its window is decoded; lets callers stream results.
using SegmentCallback = std::function<void(const Segment&)>;

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

/// A loaded Whisper model. Cheap to copy (copies share the weights).
class Model {
 public:
  static Model load(const ModelOptions& options);

  [[nodiscard]] const ModelInfo& info() const;

  /// Transcribes a 16 kHz mono waveform. `on_segment`, if set, sees each segment as it is made.
  [[nodiscard]] Transcription transcribe(std::span<const float> audio,
                                         const TranscribeOptions& options,
                                         const SegmentCallback& on_segment = {}) const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace amanuensis
