// Server-side turn detection (OpenAI's server_vad) over the streaming Silero VAD's per-window
// speech probabilities: a turn starts at the first window at or above the threshold and ends once
// the probability has stayed below a lower threshold for the silence duration. The two
// thresholds (hysteresis, as Silero's get_speech_timestamps uses) keep a turn from ending on
// every soft syllable.
#pragma once

#include <cstdint>
#include <optional>

namespace amanuensis::realtime {

struct TurnDetectorOptions {
  float threshold = 0.5F;
  // Audio kept before the first speech window, so that the decoder hears the speech's onset.
  int prefix_padding_ms = 300;
  // Silence that ends a turn.
  int silence_duration_ms = 500;
  // Below this a window counts as silence; unset: max(threshold - 0.15, 0.01) (Silero's).
  std::optional<float> neg_threshold;

  bool operator==(const TurnDetectorOptions&) const = default;
};

// A change of turn, in 16 kHz samples since the detector's first window.
struct TurnEvent {
  enum class Kind { kSpeechStarted, kSpeechStopped };
  Kind kind = Kind::kSpeechStarted;
  // Started: where the turn's audio begins (the first speech window minus the prefix padding,
  // never before 0 or the previous turn's end). Stopped: where it ends (the end of the window
  // that completed the silence, so the turn's audio includes that silence, as OpenAI's does).
  std::int64_t sample = 0;
};

class TurnDetector {
 public:
  static constexpr int kWindowSamples = 512;  // one VAD window, 32 ms

  explicit TurnDetector(TurnDetectorOptions options = {});

  // The next window's probability; returns the event it causes, if any.
  std::optional<TurnEvent> push(float probability);
  // Ends an open turn now (the stream ends, or the turn is too long): returns its end, if one
  // was open.
  std::optional<TurnEvent> force_stop();
  // Forgets any open turn; later windows continue the same sample count.
  void cancel_turn();

  [[nodiscard]] bool in_speech() const { return in_speech_; }
  [[nodiscard]] std::int64_t samples_seen() const { return windows_ * kWindowSamples; }
  [[nodiscard]] const TurnDetectorOptions& options() const { return options_; }

 private:
  TurnDetectorOptions options_;
  float neg_threshold_;
  std::int64_t windows_ = 0;
  bool in_speech_ = false;
  std::int64_t last_turn_end_ = 0;
  std::optional<std::int64_t> silence_since_;  // first window of the current run of silence
};

}  // namespace amanuensis::realtime
