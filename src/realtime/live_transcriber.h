// Live transcription of one audio stream, whatever carries it: the core of a realtime
// WebSocket session (session.h) and of `amanuensis listen`. Audio (16 kHz float) is pushed as it
// arrives; turns are found by the streaming VAD (server_vad) or ended by commit(); while a turn
// is open it is re-decoded about once a second and the words two successive decodes agree on
// are reported as deltas (LocalAgreement-2); when it ends it is decoded whole and its transcript
// reported: the turn's deltas followed by the rest of the final decode (never taking back a
// delta).
//
// With server_vad the turn's final decode starts early: as soon as a run of silence begins in the
// open turn, the audio so far is decoded (a candidate); if the turn ends at that silence (speech
// stopped) the candidate is its final decode, and the transcript comes about as soon as speech
// ends instead of a full decode after the silence duration. Speech resuming drops it.
//
// Threads: push, commit, clear, set_options, finish and close are called from one thread at a
// time (the session's). Decoding runs on the injected executor, one decode at a time per
// transcriber (turn_decoding.h); a partial decode is skipped while another runs and stopped when
// a turn ends, final decodes queue in turn order and are never dropped; no delta of a turn comes
// after its committed event. Callbacks come from the caller's thread (speech started,
// stopped, committed) and from the executor's (delta, completed, failed), never two at once,
// and none after close() returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "realtime/turn_detector.h"

namespace amanuensis::realtime {

// Runs a task soon on some other thread (the service's worker pool, a thread of the CLI's).
using Executor = std::function<void(std::function<void()>)>;

// Decodes 16 kHz audio into segments; model_decoder() wraps Model::transcribe. Tests and the
// fuzz target pass their own. Throws Cancelled when `stop` is triggered, Error on failure.
using DecodeFunction = std::function<std::vector<Segment>(
    std::span<const float> audio, const TranscribeOptions& options, std::stop_token stop)>;
DecodeFunction model_decoder(Model model);

// The decoding a live turn needs: greedy, one temperature (no fallback: a partial decode must
// be quick and a final one deterministic), no previous text, no timestamps.
TranscribeOptions default_live_decode_options();

struct LiveOptions {
  TranscribeOptions decode = default_live_decode_options();
  // Server-side turn detection; unset: turns end only at commit().
  std::optional<TurnDetectorOptions> turn_detection = TurnDetectorOptions{};
  // Audio time between re-decodes of the open turn; 0: no deltas, the transcript at the end only.
  double partial_interval_seconds = 1.0;
  // Open turns longer than this are not re-decoded (each re-decode would cost a full decode).
  double max_partial_seconds = 30.0;
  // A server_vad turn this long is ended there (a new one begins if speech goes on), so that no
  // turn grows without bound.
  double max_turn_seconds = 30.0;
  // Audio held at once (the open turn and the turns waiting to be decoded); a push beyond it
  // fails with BufferFull and its audio is dropped.
  double max_buffered_seconds = 120.0;
  // server_vad: the candidate final decode starts once a silence has lasted this long (some
  // trailing audio helps the decoder end the last word); negative: no speculative decode, the
  // final decode starts when the turn ends.
  double speculative_delay_seconds = 0.1;
  // Characters of the transcripts before (their end) added to each decode's prompt, after
  // decode.initial_prompt; 0: none.
  std::size_t previous_text_chars = 200;
  // Report word log-probabilities (decodes with word timestamps; see TokenLogprob).
  bool logprobs = false;
  // silero_vad_v6.onnx; empty: see amanuensis::detect_speech.
  std::filesystem::path vad_model;
};

// OpenAI reports token log-probabilities; the public API gives word probabilities, so each entry
// is one word (as sent in the text): its text, log(probability) and UTF-8 bytes.
struct TokenLogprob {
  std::string token;
  double logprob = 0.0;
  std::vector<std::uint8_t> bytes;
};
using Logprobs = std::optional<std::vector<TokenLogprob>>;  // unset unless asked for

struct LiveCallbacks {
  // Times are ms of audio since the transcriber started (cleared audio included).
  std::function<void(const std::string& item, std::int64_t audio_start_ms)> on_speech_started;
  std::function<void(const std::string& item, std::int64_t audio_end_ms)> on_speech_stopped;
  // previous_item: the item committed before this one; empty for the first.
  std::function<void(const std::string& item, const std::string& previous_item)> on_committed;
  std::function<void(const std::string& item, const std::string& delta, const Logprobs& logprobs)>
      on_delta;
  std::function<void(const std::string& item, const std::string& transcript,
                     const Logprobs& logprobs, double audio_seconds)>
      on_completed;
  std::function<void(const std::string& item, const std::string& error)> on_failed;
};

class TurnDecoder;  // turn_decoding.h
struct LiveTurn;
struct DecodeJob;
enum class JobKind;

// push() beyond LiveOptions::max_buffered_seconds.
class BufferFull : public Error {
 public:
  using Error::Error;
};

class LiveTranscriber {
 public:
  // Throws Error when turn detection is on and no VAD model can be loaded.
  LiveTranscriber(DecodeFunction decode, LiveOptions options, Executor executor,
                  LiveCallbacks callbacks);
  ~LiveTranscriber();  // close()
  LiveTranscriber(const LiveTranscriber&) = delete;
  LiveTranscriber& operator=(const LiveTranscriber&) = delete;

  // Appends 16 kHz samples: runs turn detection, may start a re-decode of the open turn.
  // Throws BufferFull (nothing appended) when the limit would be passed.
  void push(std::span<const float> audio);
  // Ends the open turn with all audio buffered (either mode). False, and nothing happens, when
  // less than 100 ms is buffered (OpenAI's input_audio_buffer_commit_empty).
  bool commit();
  // Drops the buffered audio and the open turn (no more events for it); committed turns still
  // complete.
  void clear();
  // New options for what follows: decode options apply to the next decode; a change of turn
  // detection first commits an open turn.
  void set_options(LiveOptions options);
  // The end of the input: ends the open turn (speech stopped, committed) and waits until every
  // turn is transcribed.
  void finish();
  // Waits until no decode runs or waits.
  void wait_idle();
  // Cancels decoding (the running decode stops soon) and stops all callbacks; later calls do
  // nothing. Does not wait for the executor.
  void close();

  [[nodiscard]] const LiveOptions& options() const { return options_; }
  // Seconds of audio held (open turn plus turns waiting for their final decode).
  [[nodiscard]] double buffered_seconds() const;

 private:
  void detect_turns(std::span<const float> audio);
  void track_silence(float probability, std::int64_t window);
  void maybe_speculate(std::int64_t end_sample);
  void drop_candidate();
  void start_turn(std::int64_t sample, bool announce);
  void end_turn(std::int64_t end_sample, bool speech_stopped, bool at_silence = false);
  void maybe_redecode();
  [[nodiscard]] std::shared_ptr<DecodeJob> make_job(JobKind kind, std::int64_t samples) const;
  void trim_idle_audio();
  void reset_detection();

  std::shared_ptr<TurnDecoder> decoder_;
  LiveOptions options_;
  std::optional<VadStream> vad_;
  std::optional<TurnDetector> detector_;
  std::int64_t vad_origin_ = 0;     // absolute sample of the VAD stream's first window
  std::int64_t total_samples_ = 0;  // every sample pushed since the start
  std::vector<float> audio_;        // buffered audio, from absolute sample audio_start_
  std::int64_t audio_start_ = 0;
  std::shared_ptr<LiveTurn> turn_;       // the open turn, if any
  std::int64_t turn_start_ = 0;          // its first sample (absolute)
  std::int64_t last_redecode_size_ = 0;  // its size in samples at its last re-decode
  // server_vad: where the open turn's current run of silence began (absolute), if one has; and
  // whether a candidate final decode of the turn is out.
  std::optional<std::int64_t> silence_since_;
  bool speculating_ = false;
  std::string last_committed_;
  bool closed_ = false;
};

}  // namespace amanuensis::realtime
