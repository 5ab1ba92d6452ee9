// amanuensis vad: where each file holds speech (Silero VAD v6, faster-whisper's
// get_speech_timestamps), one JSON object per file per line on standard output.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "vad/speech_timestamps.h"

namespace amanuensis::cli {

namespace {

struct VadArguments {
  VadOptions options;
  std::filesystem::path vad_model;
  bool probabilities = false;
  std::vector<std::string> files;
};

// A number within [0, 1] (NaN is not).
const CLI::Validator kProbability(
    [](std::string& text) -> std::string {
      double value = NAN;
      if (!CLI::detail::lexical_cast(text, value) || !(value >= 0.0 && value <= 1.0)) {
        return "must be a number within [0, 1], got " + text;
      }
      return {};
    },
    "[0, 1]");

// A positive number of seconds; "inf" (no limit) included.
const CLI::Validator kPositiveSeconds(
    [](std::string& text) -> std::string {
      double value = NAN;
      if (!CLI::detail::lexical_cast(text, value) || !(value > 0.0)) {
        return "must be a positive number of seconds (or inf), got " + text;
      }
      return {};
    },
    "POSITIVE");

// A whole number of milliseconds, 0 or more.
const CLI::Validator kMilliseconds(
    [](std::string& text) -> std::string {
      long long value = -1;
      const auto* end = text.data() + text.size();
      const auto parsed = std::from_chars(text.data(), end, value);
      if (parsed.ec != std::errc() || parsed.ptr != end || value < 0 ||
          value > std::numeric_limits<int>::max()) {
        return "must be a whole number of milliseconds, 0 or more, got " + text;
      }
      return {};
    },
    "MS");

void add_vad_options(CLI::App& command, VadOptions& o) {
  command.add_option("--threshold", o.threshold, "Windows at or above this are speech")
      ->check(kProbability)
      ->capture_default_str();
  command
      .add_option("--neg-threshold", o.neg_threshold,
                  "Speech ends below this (default: max(threshold - 0.15, 0.01))")
      ->check(kProbability);
  command
      .add_option("--min-speech-duration-ms", o.min_speech_duration_ms,
                  "Drop speech shorter than this")
      ->check(kMilliseconds)
      ->capture_default_str();
  command
      .add_option("--max-speech-duration-s", o.max_speech_duration_s,
                  "Split longer speech, at a silence of 98 ms or more when there is one")
      ->check(kPositiveSeconds)
      ->capture_default_str();
  command
      .add_option("--min-silence-duration-ms", o.min_silence_duration_ms,
                  "Silence that ends a span of speech")
      ->check(kMilliseconds)
      ->capture_default_str();
  command.add_option("--speech-pad-ms", o.speech_pad_ms, "Padding added on each side of speech")
      ->check(kMilliseconds)
      ->capture_default_str();
}

// Seconds to the millisecond, rounded as Python's round(samples / 16000, 3): the decimal nearest to
// the quotient's binary value (to_chars rounds exactly).
double seconds(std::int64_t samples) {
  char text[48];
  const double exact = static_cast<double>(samples) / kSampleRate;
  const auto printed = std::to_chars(text, text + sizeof text, exact, std::chars_format::fixed, 3);
  double result = exact;
  std::from_chars(text, printed.ptr, result);
  return result;
}

// The float's shortest decimal form, as a double that prints the same way.
double shortest(float value) {
  char text[32];
  const auto printed = std::to_chars(text, text + sizeof text, value);
  double result = value;
  std::from_chars(text, printed.ptr, result);
  return result;
}

nlohmann::ordered_json describe(const std::string& file, std::size_t samples,
                                const std::vector<SpeechSpan>& spans,
                                const std::vector<float>* probabilities) {
  nlohmann::ordered_json speech = nlohmann::ordered_json::array();
  for (const auto& span : spans) {
    speech.push_back({{"start", seconds(span.start)},
                      {"end", seconds(span.end)},
                      {"start_samples", span.start},
                      {"end_samples", span.end}});
  }
  nlohmann::ordered_json out = {{"file", file},
                                {"duration", static_cast<double>(samples) / kSampleRate},
                                {"speech", std::move(speech)}};
  if (probabilities != nullptr) {
    nlohmann::ordered_json values = nlohmann::ordered_json::array();
    for (const float p : *probabilities) values.push_back(shortest(p));
    out["probabilities"] = std::move(values);
  }
  return out;
}

int run(const VadArguments& args, const CLI::App& command) {
  try {
    validate(args.options);  // the option checks above catch everything; this is the library's
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n\n%s", e.what(), command.help().c_str());
    return kExitUsage;
  }
  // A missing or broken model is reported once, before any file is read.
  static_cast<void>(speech_probabilities({}, args.vad_model));

  int status = 0;
  for (const auto& file : args.files) {
    try {
      const auto audio = decode_audio_file(file);
      const auto probabilities = speech_probabilities(audio, args.vad_model);
      const auto spans = vad::speech_timestamps(
          probabilities, static_cast<std::int64_t>(audio.size()), args.options);
      const auto line =
          describe(file, audio.size(), spans, args.probabilities ? &probabilities : nullptr);
      std::cout << line.dump() << '\n';
      std::cout.flush();
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      status = kExitError;
    }
  }
  return status;
}

}  // namespace

CommandAction add_vad_command(CLI::App& app) {
  auto args = std::make_shared<VadArguments>();
  auto* command = app.add_subcommand(
      "vad", "Find the speech in audio files (Silero VAD v6, as faster-whisper's vad_filter)");
  add_vad_options(*command, args->options);
  command->add_option("--vad-model", args->vad_model,
                      "silero_vad_v6.onnx to use (default: $AMANUENSIS_VAD_MODEL, else the "
                      "built-in copy)");
  command->add_flag("--probabilities", args->probabilities,
                    "Also print every 32 ms window's speech probability");
  command->add_option("files", args->files, "Audio or video files")->required();
  return [args, command] { return run(*args, *command); };
}

}  // namespace amanuensis::cli
