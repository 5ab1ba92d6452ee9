// The options for long recordings that `transcribe` and `bench` share: the VAD filter and its
// parameters, the batched pipeline, and the repetition controls.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "amanuensis/amanuensis.h"
#include "service/vad_fields.h"

namespace amanuensis::cli {

// A true/false flag that may also be left out (`--x`, `--x=true`, `--x=false`, or nothing).
struct OptionalFlag {
  bool value = false;
  const CLI::Option* option = nullptr;

  [[nodiscard]] std::optional<bool> get() const {
    return option != nullptr && option->count() > 0 ? std::optional<bool>(value) : std::nullopt;
  }
};

void add_optional_flag(CLI::App& command, const std::string& name, OptionalFlag& flag,
                       const std::string& description);

// What was given on the command line; VAD fields left unset keep the mode's defaults.
struct LongFormFlags {
  OptionalFlag vad_filter;
  service::VadOverrides vad;  // over the mode's defaults (default_vad_options)
  std::string vad_model;
  int batch_size = 0;
  std::optional<int> chunk_length;
  float repetition_penalty = 1.0F;
  int no_repeat_ngram_size = 0;
};

// --vad-filter[=false], --vad-threshold, --vad-neg-threshold, --vad-min-speech-duration-ms,
// --vad-max-speech-duration-s, --vad-min-silence-duration-ms, --vad-speech-pad-ms, --vad-model,
// --batch-size, --chunk-length, --repetition-penalty, --no-repeat-ngram-size.
void add_long_form_options(CLI::App& command, LongFormFlags& flags);

// Copies the flags into `options`: VAD parameters given start from the mode's defaults
// (faster-whisper's VadOptions; min_silence_duration_ms 160 in batched mode).
void apply_long_form_options(const LongFormFlags& flags, TranscribeOptions& options);

}  // namespace amanuensis::cli
