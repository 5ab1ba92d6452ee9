// amanuensis transcribe: files in, transcripts out (standard output or one file per input).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "cli/long_form_options.h"
#include "formats/transcript_formats.h"

namespace amanuensis::cli {

namespace {

using formats::file_extension;
using formats::parse_output_format;
using formats::write_transcript;

// Files at least this long report progress on standard error as segments are decoded.
constexpr double kProgressMinimumSeconds = 60.0;

struct TranscribeArguments {
  ModelOptions model;
  std::string output_format = "txt";
  std::filesystem::path output_dir;
  formats::WriteOptions write_options;
  std::vector<std::string> files;
  TranscribeOptions options;
  LongFormFlags long_form;
  OptionalFlag without_timestamps;
};

// Options spelled as faster-whisper spells them, kebab-cased.
void add_decoding_options(CLI::App& command, TranscribeOptions& o) {
  command.add_option("--language", o.language,
                     "Spoken language (ISO-639-1); default: detect (English on .en models)");
  command
      .add_option("--languages", o.languages,
                  "Languages detection may choose from, e.g. de,es (default: all the model knows)")
      ->delimiter(',');
  command.add_flag("--logprobs", o.logprobs,
                   "JSON output: every text token with its log-probability (\"logprobs\", as "
                   "OpenAI's include[]=logprobs)");
  command.add_flag("--multilingual", o.multilingual,
                   "Detect the language of every window and decode each in its own (speech that "
                   "switches language); segments then carry their language");
  command
      .add_option("--language-detection-segments", o.language_detection_segments,
                  "30-second windows language detection may look at (1)")
      ->check(CLI::PositiveNumber);
  command.add_option("--language-detection-threshold", o.language_detection_threshold,
                     "Probability at which detection stops looking at further windows (0.5)");
  command.add_option("--task", o.task, "transcribe, or translate into English")
      ->check(CLI::IsMember({"transcribe", "translate"}));
  command.add_option("--beam-size", o.beam_size, "Beam size; 1 is greedy")
      ->check(CLI::Range(1, 64));
  command.add_option("--best-of", o.best_of, "Samples per temperature above 0")
      ->check(CLI::Range(1, 64));
  command.add_option("--patience", o.patience, "Beam search patience")->check(CLI::PositiveNumber);
  command.add_option("--length-penalty", o.length_penalty, "Exponent of the length normalisation");
  command.add_option("--temperature", o.temperatures, "Temperatures to fall back through")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::Range(0.0F, 10.0F));
  command.add_option("--compression-ratio-threshold", o.compression_ratio_threshold,
                     "Fall back when the text's gzip ratio is above this");
  command.add_option("--log-prob-threshold", o.log_prob_threshold,
                     "Fall back when the average log-probability is below this");
  command.add_option("--no-speech-threshold", o.no_speech_threshold,
                     "Skip windows whose no-speech probability is above this");
  command.add_option("--condition-on-previous-text", o.condition_on_previous_text,
                     "Prompt each window with the previous text (true/false)");
  command.add_option("--prompt-reset-on-temperature", o.prompt_reset_on_temperature,
                     "Stop conditioning after a fallback above this temperature");
  command.add_option("--initial-prompt", o.initial_prompt, "Prompt for the first window");
  command.add_option("--prefix", o.prefix, "Text the first window must start with");
  command.add_option("--hotwords", o.hotwords, "Words to favour");
  command
      .add_option_function<std::string>(
          "--keywords",
          [&o](const std::string& text) {
            try {
              o.keywords = parse_keywords(text);
            } catch (const Error& e) {
              throw CLI::ValidationError(e.what());
            }
          },
          "Words to favour inside the search, each with an optional weight: \"Gutenberg:2,Caxton\"")
      ->allow_extra_args(false);
  command.add_option("--suppress-blank", o.suppress_blank,
                     "Forbid a blank first token (true/false)");
  command.add_option("--suppress-tokens", o.suppress_tokens, "Token ids to forbid; -1: non-speech")
      ->delimiter(',')
      ->allow_extra_args(false);
  command.add_option("--max-initial-timestamp", o.max_initial_timestamp,
                     "Latest first timestamp, in seconds");
  command.add_option("--max-new-tokens", o.max_new_tokens, "Cap on tokens per window")
      ->check(CLI::PositiveNumber);
  command.add_flag("--word-timestamps", o.word_timestamps, "Time every word");
  command.add_option("--hallucination-silence-threshold", o.hallucination_silence_threshold,
                     "Skip silences longer than this around hallucinations (word timestamps)");
  command.add_option("--clip-timestamps", o.clip_timestamps, "start,end,... seconds to transcribe")
      ->delimiter(',')
      ->allow_extra_args(false);
}

int run(TranscribeArguments& args) {
  using Clock = std::chrono::steady_clock;
  apply_long_form_options(args.long_form, args.options);
  args.options.without_timestamps = args.without_timestamps.get();
  const auto format = parse_output_format(args.output_format);
  const auto model = Model::load(args.model);
  if (!args.output_dir.empty()) std::filesystem::create_directories(args.output_dir);

  int status = 0;
  for (const auto& file : args.files) {
    try {
      const auto started = Clock::now();
      const auto audio = decode_audio_file(file);
      const double audio_seconds = static_cast<double>(audio.size()) / kSampleRate;
      const bool show_progress = audio_seconds >= kProgressMinimumSeconds;
      const auto transcription = model.transcribe(audio, args.options, [&](const Segment& s) {
        if (show_progress)
          std::fprintf(stderr, "%s: %.1f / %.1f s\n", file.c_str(), s.end, audio_seconds);
      });
      const double wall = std::chrono::duration<double>(Clock::now() - started).count();

      if (args.output_dir.empty()) {
        write_transcript(std::cout, format, transcription, file, args.write_options);
        std::cout.flush();
      } else {
        auto path = args.output_dir / std::filesystem::path(file).stem();
        path += "." + std::string(file_extension(format));
        std::ofstream out(path);
        write_transcript(out, format, transcription, file, args.write_options);
        if (!out) throw Error(path.string() + ": cannot write");
      }
      std::fprintf(stderr, "%s: %.1f s of audio in %.2f s (real-time factor %.1fx)\n", file.c_str(),
                   audio_seconds, wall, wall > 0 ? audio_seconds / wall : 0.0);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      status = kExitError;
    }
  }
  return status;
}

}  // namespace

void add_model_options(CLI::App& command, ModelOptions& options) {
  command
      .add_option("--model", options.path,
                  "Whisper model: CTranslate2 or Hugging Face folder, or whisper.cpp ggml file")
      ->required();
  command.add_option("--threads", options.threads, "Compute threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--compute-type", options.compute_type,
                     "default, float32, float16, bfloat16, int8, int8_float32, int8_float16");
  command
      .add_option("--device", options.device,
                  "auto, cpu, cuda, opencl or npu (see `amanuensis devices`; falls back to cpu)")
      ->envname("AMANUENSIS_DEVICE");
  command
      .add_option("--device-index", options.device_index,
                  "Which device of --device, from 0 (default: the backend's choice)")
      ->check(CLI::NonNegativeNumber);
}

CommandAction add_transcribe_command(CLI::App& app) {
  auto args = std::make_shared<TranscribeArguments>();
  auto* command = app.add_subcommand("transcribe", "Transcribe audio or video files");
  add_model_options(*command, args->model);
  command->add_option("--output-format", args->output_format, "txt, json, srt, vtt or tsv")
      ->check(CLI::IsMember({"txt", "json", "srt", "vtt", "tsv"}));
  command->add_option("--output-dir", args->output_dir,
                      "Write <name>.<format> per input here instead of to standard output");
  command->add_flag("--highlight-words", args->write_options.highlight_words,
                    "SRT/VTT: one cue per word, underlined (needs --word-timestamps)");
  add_decoding_options(*command, args->options);
  add_long_form_options(*command, args->long_form);
  add_optional_flag(*command, "--without-timestamps", args->without_timestamps,
                    "Decode text only (default: off; on with --batch-size)");
  command->add_option("files", args->files, "Audio or video files")->required();
  return [args] { return run(*args); };
}

}  // namespace amanuensis::cli
