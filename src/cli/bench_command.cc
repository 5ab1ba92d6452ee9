// amanuensis bench: one benchmark run. Loads a model as `transcribe` does (same device selection,
// compute type and threads), transcribes the files one after another and reports the load time,
// each file's wall time, time to first segment and tokens, and the encoder and decoder time the
// model measured. Decoding the audio file is not timed. Peak memory and CPU time are left to the
// caller (bench/compare measures them from outside).
//
//   amanuensis bench --model models/base --compute-type int8 --threads 2 --beam-size 5 FILE...
//
// --json prints one JSON object (the contract bench/compare reads); otherwise a table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"

namespace amanuensis::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArguments {
  ModelOptions model;
  int beam_size = 5;
  std::string language = "en";
  bool json = false;
  std::vector<std::string> files;
};

struct FileResult {
  std::string path;
  double audio_seconds = 0;
  double wall_seconds = 0;
  double first_segment_seconds = -1;  // -1: no segment
  int tokens = 0;
  std::string text;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void print_json(const std::string& backend, double load_seconds,
                const std::vector<FileResult>& files, const Timings& stats) {
  nlohmann::json out;
  out["engine"] = "amanuensis";
  out["backend"] = backend;
  out["load_seconds"] = load_seconds;
  out["files"] = nlohmann::json::array();
  for (const auto& f : files) {
    out["files"].push_back({{"path", f.path},
                            {"audio_seconds", f.audio_seconds},
                            {"wall_seconds", f.wall_seconds},
                            {"first_segment_seconds", f.first_segment_seconds},
                            {"tokens", f.tokens},
                            {"text", f.text}});
  }
  out["encoder_seconds"] = stats.encoder_seconds;
  out["decoder_seconds"] = stats.decoder_seconds;
  out["decoder_calls"] = stats.decoder_calls;
  std::cout << out.dump() << '\n';
}

void print_table(const BenchArguments& args, const std::string& backend, double load_seconds,
                 const std::vector<FileResult>& files, const Timings& stats) {
  int width = 5;  // "total"
  for (const auto& f : files) width = std::max(width, static_cast<int>(f.path.size()));
  const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const auto row = [&](const std::string& name, double audio, double wall, double first,
                       int tokens) {
    char first_text[32] = "-";
    if (first >= 0) std::snprintf(first_text, sizeof first_text, "%.2f", first);
    std::printf("%-*s  %9.1f  %8.2f  %7.1f  %9s  %7.1f\n", width, name.c_str(), audio, wall,
                ratio(audio, wall), first_text, ratio(tokens, wall));
  };
  std::printf("%-*s  %9s  %8s  %7s  %9s  %7s\n", width, "file", "audio s", "wall s", "RTF",
              "1st seg s", "tok/s");
  double audio = 0;
  double wall = 0;
  double first_sum = 0;
  int firsts = 0;
  int tokens = 0;
  for (const auto& f : files) {
    row(f.path, f.audio_seconds, f.wall_seconds, f.first_segment_seconds, f.tokens);
    audio += f.audio_seconds;
    wall += f.wall_seconds;
    tokens += f.tokens;
    if (f.first_segment_seconds >= 0) {
      first_sum += f.first_segment_seconds;
      ++firsts;
    }
  }
  row("total", audio, wall, firsts > 0 ? first_sum / firsts : -1.0, tokens);
  std::printf(
      "\nRTF (audio s / wall s) %.1f; encoder %.2f s, decoder %.2f s (%lld calls); load %.2f s\n",
      ratio(audio, wall), stats.encoder_seconds, stats.decoder_seconds,
      static_cast<long long>(stats.decoder_calls), load_seconds);
  std::printf("model %s, %s, compute type %s, beam size %d, language %s\n",
              args.model.path.string().c_str(), backend.c_str(), args.model.compute_type.c_str(),
              args.beam_size, args.language.empty() ? "auto" : args.language.c_str());
}

int run(const BenchArguments& args) {
  const auto load_start = Clock::now();
  const auto model = Model::load(args.model);
  const double load_seconds = seconds_since(load_start);

  TranscribeOptions options;
  options.language = args.language == "auto" ? "" : args.language;
  options.beam_size = args.beam_size;

  std::vector<FileResult> results;
  for (const auto& file : args.files) {
    const auto audio = decode_audio_file(file);  // not timed, as in bench/fw_runner.py
    FileResult r;
    r.path = file;
    const auto start = Clock::now();
    const auto transcription = model.transcribe(audio, options, [&](const Segment& segment) {
      if (r.first_segment_seconds < 0) r.first_segment_seconds = seconds_since(start);
      r.tokens += static_cast<int>(segment.tokens.size());
    });
    r.wall_seconds = seconds_since(start);
    r.audio_seconds = transcription.duration;
    for (const auto& segment : transcription.segments) r.text += segment.text;
    results.push_back(std::move(r));
  }

  if (args.json) {
    print_json(model.backend_description(), load_seconds, results, model.timings());
  } else {
    print_table(args, model.backend_description(), load_seconds, results, model.timings());
  }
  return 0;
}

}  // namespace

CommandAction add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArguments>();
  auto* command = app.add_subcommand(
      "bench", "Measure transcription speed: load time, per-file wall time, RTF, tokens/s");
  add_model_options(*command, args->model);
  command->add_option("--beam-size", args->beam_size, "Beam size; 1 is greedy")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command
      ->add_option("--language", args->language,
                   "Spoken language (ISO-639-1); auto or empty: detect")
      ->capture_default_str();
  command->add_flag("--json", args->json,
                    "Print one JSON object (bench/compare's format) instead of a table");
  command->add_option("files", args->files, "Audio or video files")->required();
  return [args] { return run(*args); };
}

}  // namespace amanuensis::cli
