// amanuensis: the command-line front end.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "amanuensis/amanuensis.h"
#include "cli/output_writers.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
// Files at least this long report progress on standard error as segments are decoded.
constexpr double kProgressMinimumSeconds = 60.0;

struct TranscribeArguments {
  std::filesystem::path model;
  std::string language;
  int threads = 0;
  std::string output_format = "txt";
  std::filesystem::path output_dir;
  std::vector<std::string> files;
};

void add_transcribe_command(CLI::App& app, TranscribeArguments& args) {
  auto* command = app.add_subcommand("transcribe", "Transcribe audio or video files");
  command->add_option("--model", args.model, "CTranslate2 Whisper model folder")->required();
  command->add_option("--language", args.language,
                      "Spoken language (ISO-639-1); default: detect (English on .en models)");
  command->add_option("--threads", args.threads, "Compute threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--output-format", args.output_format, "txt, json, srt or vtt")
      ->check(CLI::IsMember({"txt", "json", "srt", "vtt"}));
  command->add_option("--output-dir", args.output_dir,
                      "Write <name>.<format> per input here instead of to standard output");
  command->add_option("files", args.files, "Audio or video files")->required();
}

int run_transcribe(const TranscribeArguments& args) {
  using Clock = std::chrono::steady_clock;
  const auto format = amanuensis::cli::parse_output_format(args.output_format);
  const auto model = amanuensis::Model::load({.path = args.model, .threads = args.threads});
  if (!args.output_dir.empty()) std::filesystem::create_directories(args.output_dir);

  amanuensis::TranscribeOptions options;
  options.language = args.language;
  int status = 0;
  for (const auto& file : args.files) {
    try {
      const auto started = Clock::now();
      const auto audio = amanuensis::decode_audio_file(file);
      const double audio_seconds = static_cast<double>(audio.size()) / amanuensis::kSampleRate;
      const bool show_progress = audio_seconds >= kProgressMinimumSeconds;
      const auto transcription = model.transcribe(audio, options, [&](const amanuensis::Segment& s) {
        if (show_progress) std::fprintf(stderr, "%s: %.1f / %.1f s\n", file.c_str(), s.end, audio_seconds);
      });
      const double wall = std::chrono::duration<double>(Clock::now() - started).count();

      if (args.output_dir.empty()) {
        amanuensis::cli::write_transcript(std::cout, format, transcription, file);
        std::cout.flush();
      } else {
        auto path = args.output_dir / std::filesystem::path(file).stem();
        path += "." + std::string(amanuensis::cli::file_extension(format));
        std::ofstream out(path);
        amanuensis::cli::write_transcript(out, format, transcription, file);
        if (!out) throw amanuensis::Error(path.string() + ": cannot write");
      }
      std::fprintf(stderr, "%s: %.1f s of audio in %.2f s (real-time factor %.1fx)\n", file.c_str(),
                   audio_seconds, wall, wall > 0 ? audio_seconds / wall : 0.0);
    } catch (const amanuensis::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      status = kExitError;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Amanuensis: Whisper speech-to-text", "amanuensis"};
  app.require_subcommand(1);
  TranscribeArguments transcribe_args;
  add_transcribe_command(app, transcribe_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }

  try {
    if (app.got_subcommand("transcribe")) return run_transcribe(transcribe_args);
  } catch (const amanuensis::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitError;
  }
  return kExitUsage;
}
