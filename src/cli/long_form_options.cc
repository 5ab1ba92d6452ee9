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
  command.add_option("--vad-threshold", flags.vad.threshold, "Speech probability threshold (0.5)")
      ->check(CLI::Range(0.0F, 1.0F));
  command
      .add_option("--vad-neg-threshold", flags.vad.neg_threshold,
                  "Probability below which speech ends (threshold - 0.15)")
      ->check(CLI::Range(0.0F, 1.0F));
  command
      .add_option("--vad-min-speech-duration-ms", flags.vad.min_speech_duration_ms,
                  "Drop speech shorter than this (0)")
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--vad-max-speech-duration-s", flags.vad.max_speech_duration_s,
                  "Split speech longer than this (no limit)")
      ->check(CLI::PositiveNumber);
  command
      .add_option("--vad-min-silence-duration-ms", flags.vad.min_silence_duration_ms,
                  "Silence that ends speech (2000; 160 with --batch-size)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--vad-speech-pad-ms", flags.vad.speech_pad_ms, "Padding around speech (400)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--vad-model", flags.vad_model,
                     "silero_vad_v6.onnx to use (default: $AMANUENSIS_VAD_MODEL, else built in)");
  command
      .add_option("--batch-size", flags.batch_size,
                  "Decode this many 30-second chunks together (faster-whisper's batched "
                  "pipeline: VAD on, no timestamps by default); 0 is sequential")
      ->check(CLI::Range(0, 256));
  command
      .add_option("--chunk-length", flags.chunk_length,
                  "Seconds of audio per window, padded to Whisper's 30 (faster-whisper's "
                  "chunk_length; with --batch-size the longest speech chunk)")
      ->check(CLI::Range(1, 30));
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
  options.chunk_length = flags.chunk_length;
  options.repetition_penalty = flags.repetition_penalty;
  options.no_repeat_ngram_size = flags.no_repeat_ngram_size;
  if (!flags.vad.empty()) options.vad_parameters = flags.vad.over(default_vad_options(options));
}

}  // namespace amanuensis::cli
