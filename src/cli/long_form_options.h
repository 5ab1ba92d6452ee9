// The options for long recordings that `transcribe` and `bench` share: the VAD filter and its
// parameters, the batched pipeline, and the repetition controls.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::cli {

// What was given on the command line; VAD fields left unset keep the mode's defaults.
struct LongFormFlags {
  std::optional<bool> vad_filter;
  std::optional<float> threshold;
  std::optional<float> neg_threshold;
  std::optional<int> min_speech_duration_ms;
  std::optional<float> max_speech_duration_s;
  std::optional<int> min_silence_duration_ms;
  std::optional<int> speech_pad_ms;
  std::string vad_model;
  int batch_size = 0;
  float repetition_penalty = 1.0F;
  int no_repeat_ngram_size = 0;
};

// --vad-filter[=false], --vad-threshold, --vad-neg-threshold, --vad-min-speech-duration-ms,
// --vad-max-speech-duration-s, --vad-min-silence-duration-ms, --vad-speech-pad-ms, --vad-model,
// --batch-size, --repetition-penalty, --no-repeat-ngram-size.
void add_long_form_options(CLI::App& command, LongFormFlags& flags);

// Copies the flags into `options`: VAD parameters given start from the mode's defaults
// (faster-whisper's VadOptions; min_silence_duration_ms 160 in batched mode).
void apply_long_form_options(const LongFormFlags& flags, TranscribeOptions& options);

}  // namespace amanuensis::cli
