// The public VAD entry points of amanuensis.h.
#include <cmath>
#include <cstdio>
#include <string>

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

}  // namespace amanuensis
