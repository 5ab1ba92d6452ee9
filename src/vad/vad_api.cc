// The public VAD entry points of amanuensis.h.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "amanuensis/amanuensis.h"
#include "vad/speech_timestamps.h"
#include "vad/vad_model.h"

namespace amanuensis {

namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

[[noreturn]] void reject(const char* field, double value, const char* rule) {
  throw Error(std::string("VAD option ") + field + " = " + number(value) + ": " + rule);
}

}  // namespace

void validate(const VadOptions& options) {
  const auto probability = [](const char* field, float value) {
    if (!(value >= 0.0F && value <= 1.0F)) reject(field, value, "must be within [0, 1]");
  };
  probability("threshold", options.threshold);
  if (options.neg_threshold) probability("neg_threshold", *options.neg_threshold);
  if (options.min_speech_duration_ms < 0) {
    reject("min_speech_duration_ms", options.min_speech_duration_ms, "must not be negative");
  }
  if (!(options.max_speech_duration_s > 0.0F)) {
    reject("max_speech_duration_s", options.max_speech_duration_s,
           "must be positive (inf: no limit)");
  }
  if (options.min_silence_duration_ms < 0) {
    reject("min_silence_duration_ms", options.min_silence_duration_ms, "must not be negative");
  }
  if (options.speech_pad_ms < 0) {
    reject("speech_pad_ms", options.speech_pad_ms, "must not be negative");
  }
}

std::vector<float> speech_probabilities(std::span<const float> audio,
                                        const std::filesystem::path& vad_model) {
  return vad::load_silero_vad(vad_model)->probabilities(audio);
}

std::vector<SpeechSpan> detect_speech(std::span<const float> audio, const VadOptions& options,
                                      const std::filesystem::path& vad_model) {
  validate(options);
  const auto probabilities = speech_probabilities(audio, vad_model);
  return vad::speech_timestamps(probabilities, static_cast<std::int64_t>(audio.size()), options);
}

struct VadStream::Impl {
  vad::SileroVad::Stream stream;
  std::int64_t windows = 0;
};

VadStream::VadStream(const std::filesystem::path& vad_model)
    : impl_(std::make_unique<Impl>(Impl{vad::SileroVad::Stream(vad::load_silero_vad(vad_model))})) {
}

VadStream::~VadStream() = default;
VadStream::VadStream(VadStream&& other) noexcept = default;
VadStream& VadStream::operator=(VadStream&& other) noexcept = default;

std::vector<float> VadStream::push(std::span<const float> audio) {
  auto probs = impl_->stream.push(audio);
  impl_->windows += static_cast<std::int64_t>(probs.size());
  return probs;
}

void VadStream::reset() {
  impl_->stream.reset();
  impl_->windows = 0;
}

std::int64_t VadStream::windows() const { return impl_->windows; }

}  // namespace amanuensis
