#include "cli/long_form_options.h"

namespace amanuensis::cli {

void add_optional_flag(CLI::App& command, const std::string& name, OptionalFlag& flag,
                       const std::string& description) {
  flag.option = command.add_flag(name, flag.value, description);
}

void add_long_form_options(CLI::App& command, LongFormFlags& flags) {
  add_optional_flag(command, "--vad-filter", flags.vad_filter,
                    "Transcribe only the speech Silero VAD finds (default: off; on with "
                    "--batch-size)");
  command.add_option("--vad-threshold", flags.threshold, "Speech probability threshold (0.5)")
      ->check(CLI::Range(0.0F, 1.0F));
  command
      .add_option("--vad-neg-threshold", flags.neg_threshold,
                  "Probability below which speech ends (threshold - 0.15)")
      ->check(CLI::Range(0.0F, 1.0F));
  command
      .add_option("--vad-min-speech-duration-ms", flags.min_speech_duration_ms,
                  "Drop speech shorter than this (0)")
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--vad-max-speech-duration-s", flags.max_speech_duration_s,
                  "Split speech longer than this (no limit)")
      ->check(CLI::PositiveNumber);
  command
      .add_option("--vad-min-silence-duration-ms", flags.min_silence_duration_ms,
                  "Silence that ends speech (2000; 160 with --batch-size)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--vad-speech-pad-ms", flags.speech_pad_ms, "Padding around speech (400)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--vad-model", flags.vad_model,
                     "silero_vad_v6.onnx to use (default: $AMANUENSIS_VAD_MODEL, else built in)");
  command
      .add_option("--batch-size", flags.batch_size,
                  "Decode this many 30-second chunks together (faster-whisper's batched "
                  "pipeline: VAD on, no timestamps by default); 0 is sequential")
      ->check(CLI::Range(0, 256));
  command
      .add_option("--repetition-penalty", flags.repetition_penalty,
                  "Penalise tokens already produced (above 1 discourages repetition)")
      ->check(CLI::PositiveNumber);
  command
      .add_option("--no-repeat-ngram-size", flags.no_repeat_ngram_size,
                  "Forbid repeating any n-gram of this size (0: off)")
      ->check(CLI::NonNegativeNumber);
}

void apply_long_form_options(const LongFormFlags& flags, TranscribeOptions& options) {
  options.vad_filter = flags.vad_filter.get();
  options.vad_model = flags.vad_model;
  options.batch_size = flags.batch_size;
  options.repetition_penalty = flags.repetition_penalty;
  options.no_repeat_ngram_size = flags.no_repeat_ngram_size;
  const bool any = flags.threshold || flags.neg_threshold || flags.min_speech_duration_ms ||
                   flags.max_speech_duration_s || flags.min_silence_duration_ms ||
                   flags.speech_pad_ms;
  if (!any) return;
  VadOptions vad;
  if (flags.batch_size > 0) vad.min_silence_duration_ms = 160;
  vad.threshold = flags.threshold.value_or(vad.threshold);
  vad.neg_threshold = flags.neg_threshold ? flags.neg_threshold : vad.neg_threshold;
  vad.min_speech_duration_ms = flags.min_speech_duration_ms.value_or(vad.min_speech_duration_ms);
  vad.max_speech_duration_s = flags.max_speech_duration_s.value_or(vad.max_speech_duration_s);
  vad.min_silence_duration_ms = flags.min_silence_duration_ms.value_or(vad.min_silence_duration_ms);
  vad.speech_pad_ms = flags.speech_pad_ms.value_or(vad.speech_pad_ms);
  options.vad_parameters = vad;
}

}  // namespace amanuensis::cli
