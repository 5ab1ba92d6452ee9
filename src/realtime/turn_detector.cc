#include "realtime/turn_detector.h"

#include <algorithm>

namespace amanuensis::realtime {

namespace {

constexpr std::int64_t kSamplesPerMs = 16;

}  // namespace

TurnDetector::TurnDetector(TurnDetectorOptions options)
    : options_(options),
      neg_threshold_(options.neg_threshold.value_or(std::max(options.threshold - 0.15F, 0.01F))) {}

std::optional<TurnEvent> TurnDetector::push(float probability) {
  const std::int64_t window = windows_++;
  const std::int64_t start = window * kWindowSamples;
  const std::int64_t end = start + kWindowSamples;
  if (!in_speech_) {
    if (probability < options_.threshold) return std::nullopt;
    in_speech_ = true;
    silence_since_.reset();
    const std::int64_t padded = start - options_.prefix_padding_ms * kSamplesPerMs;
    return TurnEvent{TurnEvent::Kind::kSpeechStarted, std::max(padded, last_turn_end_)};
  }
  if (probability >= options_.threshold) {
    silence_since_.reset();
  } else if (probability < neg_threshold_ && !silence_since_) {
    silence_since_ = start;
  }
  // Between the two thresholds a run of silence neither starts nor breaks.
  if (silence_since_ && end - *silence_since_ >= options_.silence_duration_ms * kSamplesPerMs) {
    in_speech_ = false;
    silence_since_.reset();
    last_turn_end_ = end;
    return TurnEvent{TurnEvent::Kind::kSpeechStopped, end};
  }
  return std::nullopt;
}

std::optional<TurnEvent> TurnDetector::force_stop() {
  if (!in_speech_) return std::nullopt;
  in_speech_ = false;
  silence_since_.reset();
  last_turn_end_ = samples_seen();
  return TurnEvent{TurnEvent::Kind::kSpeechStopped, last_turn_end_};
}

void TurnDetector::cancel_turn() {
  in_speech_ = false;
  silence_since_.reset();
  last_turn_end_ = samples_seen();
}

}  // namespace amanuensis::realtime
