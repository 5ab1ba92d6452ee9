// amanuensis bench: one benchmark run. Loads a model as `transcribe` does (same device selection,
// compute type and threads), transcribes the files one after another and reports the load time,
// each file's wall time, time to first segment and tokens, and the encoder and decoder time the
// model measured. Decoding the audio file is not timed. Peak memory and CPU time are left to the
// caller (bench/compare measures them from outside).
//
//   amanuensis bench --model models/base --compute-type int8 --threads 2 --beam-size 5
//                    [--vad-filter[=false]] [--batch-size N] [--without-timestamps[=false]]
//                    [--word-timestamps] FILE...
//
// --batch-size 0 is sequential decoding (faster-whisper's WhisperModel), N >= 1 the batched
// pipeline (its BatchedInferencePipeline); --vad-filter and --without-timestamps left unset take
// the engine's default for that mode. --json prints one JSON object (the contract bench/compare
// and the runners in bench/ share): the options used, and per file the audio and after-VAD
// seconds, wall time, time to first segment, segments, tokens and text; otherwise a table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "cli/long_form_options.h"

namespace amanuensis::cli {

namespace {

using Clock = std::chrono::steady_clock;

// A flag given as --NAME, --NAME=true or --NAME=false, or not at all (unset). add_flag_function
// would abort on --NAME=maybe (CLI11 2.1 lets std::stoll's exception out); a bool flag reports
// it as a usage error.
struct BenchArguments {
  ModelOptions model;
  int beam_size = 5;
  std::string language = "en";
  LongFormFlags long_form;  // VAD, batched pipeline, repetition controls
  OptionalFlag without_timestamps;
  bool word_timestamps = false;
  bool json = false;
  std::vector<std::string> files;
};

struct FileResult {
  std::string path;
  double audio_seconds = 0;
  double duration_after_vad = 0;  // as the engine reports it
  double wall_seconds = 0;
  double first_segment_seconds = -1;  // -1: no segment
  int segments = 0;
  int tokens = 0;
  std::string text;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

nlohmann::json optional_json(const std::optional<bool>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// The options of the run; null stands for "unset: the engine's default for the mode".
nlohmann::json options_json(const BenchArguments& args) {
  return {{"compute_type", args.model.compute_type},
          {"threads", args.model.threads},
          {"device", args.model.device},
          {"beam_size", args.beam_size},
          {"language", args.language},
          {"vad_filter", optional_json(args.long_form.vad_filter.get())},
          {"batch_size", args.long_form.batch_size},
          {"without_timestamps", optional_json(args.without_timestamps.get())},
          {"word_timestamps", args.word_timestamps}};
}

// A device backend's traffic per decoder step (the host's waits, bytes each way), with the
// totals it comes from.
double per_decoder_step(std::int64_t total, const Timings& stats) {
  return stats.decoder_calls > 0
             ? static_cast<double>(total) / static_cast<double>(stats.decoder_calls)
             : 0.0;
}

nlohmann::json device_traffic_json(const Timings& stats) {
  const auto per_step = [&](std::int64_t total) { return per_decoder_step(total, stats); };
  return {{"syncs_per_decoder_step", per_step(stats.decoder_device_syncs)},
          {"host_to_device_bytes_per_decoder_step", per_step(stats.decoder_host_to_device_bytes)},
          {"device_to_host_bytes_per_decoder_step", per_step(stats.decoder_device_to_host_bytes)},
          {"decoder_syncs", stats.decoder_device_syncs},
          {"decoder_host_to_device_bytes", stats.decoder_host_to_device_bytes},
          {"decoder_device_to_host_bytes", stats.decoder_device_to_host_bytes}};
}

void print_json(const BenchArguments& args, const std::string& backend, double load_seconds,
                const std::vector<FileResult>& files, const Timings& stats) {
  nlohmann::json out;
  out["engine"] = "amanuensis";
  out["backend"] = backend;
  out["options"] = options_json(args);
  out["load_seconds"] = load_seconds;
  out["files"] = nlohmann::json::array();
  for (const auto& f : files) {
    out["files"].push_back({{"path", f.path},
                            {"audio_seconds", f.audio_seconds},
                            {"duration_after_vad", f.duration_after_vad},
                            {"wall_seconds", f.wall_seconds},
                            {"first_segment_seconds", f.first_segment_seconds},
                            {"segments", f.segments},
                            {"tokens", f.tokens},
                            {"text", f.text}});
  }
  out["encoder_seconds"] = stats.encoder_seconds;
  out["decoder_seconds"] = stats.decoder_seconds;
  out["decoder_calls"] = stats.decoder_calls;
  if (stats.device_traffic) out["device"] = device_traffic_json(stats);
  std::cout << out.dump() << '\n';
}

std::string optional_text(const std::optional<bool>& value) {
  if (!value) {
    return "default";
  }
  return *value ? "on" : "off";
}

// "sequential" or "batched (batch size N)", with the VAD and timestamp settings.
std::string mode_text(const BenchArguments& args) {
  std::string mode = args.long_form.batch_size > 0
                         ? "batched (batch size " + std::to_string(args.long_form.batch_size) + ")"
                         : "sequential";
  mode += ", VAD " + optional_text(args.long_form.vad_filter.get());
  mode += ", without timestamps " + optional_text(args.without_timestamps.get());
  if (args.word_timestamps) {
    mode += ", word timestamps";
  }
  return mode;
}

double per_second(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0.0; }

// One line per file and a total, which it returns (its first-segment time is the mean over the
// files that had one).
FileResult print_file_rows(const std::vector<FileResult>& files) {
  int width = 5;  // "total"
  for (const auto& f : files) width = std::max(width, static_cast<int>(f.path.size()));
  const auto row = [&](const FileResult& f) {
    char first_text[32] = "-";
    if (f.first_segment_seconds >= 0) {
      std::snprintf(first_text, sizeof first_text, "%.2f", f.first_segment_seconds);
    }
    std::printf("%-*s  %9.1f  %9.1f  %8.2f  %7.1f  %9s  %5d  %7.1f\n", width, f.path.c_str(),
                f.audio_seconds, f.duration_after_vad, f.wall_seconds,
                per_second(f.audio_seconds, f.wall_seconds), first_text, f.segments,
                per_second(f.tokens, f.wall_seconds));
  };
  std::printf("%-*s  %9s  %9s  %8s  %7s  %9s  %5s  %7s\n", width, "file", "audio s", "speech s",
              "wall s", "RTF", "1st seg s", "segs", "tok/s");
  FileResult total;
  total.path = "total";
  total.first_segment_seconds = 0;  // a sum, then the mean
  int firsts = 0;
  for (const auto& f : files) {
    row(f);
    total.audio_seconds += f.audio_seconds;
    total.duration_after_vad += f.duration_after_vad;
    total.wall_seconds += f.wall_seconds;
    total.segments += f.segments;
    total.tokens += f.tokens;
    if (f.first_segment_seconds >= 0) {
      total.first_segment_seconds += f.first_segment_seconds;
      ++firsts;
    }
  }
  total.first_segment_seconds = firsts > 0 ? total.first_segment_seconds / firsts : -1.0;
  row(total);
  return total;
}

void print_table(const BenchArguments& args, const std::string& backend, double load_seconds,
                 const std::vector<FileResult>& files, const Timings& stats) {
  const FileResult total = print_file_rows(files);
  std::printf(
      "\nRTF (audio s / wall s) %.1f; encoder %.2f s, decoder %.2f s (%lld calls); load %.2f s\n",
      per_second(total.audio_seconds, total.wall_seconds), stats.encoder_seconds,
      stats.decoder_seconds, static_cast<long long>(stats.decoder_calls), load_seconds);
  if (stats.device_traffic && stats.decoder_calls > 0) {
    std::printf("device per decoder step: %.1f syncs, %.1f KiB to the device, %.1f KiB back\n",
                per_decoder_step(stats.decoder_device_syncs, stats),
                per_decoder_step(stats.decoder_host_to_device_bytes, stats) / 1024.0,
                per_decoder_step(stats.decoder_device_to_host_bytes, stats) / 1024.0);
  }
  std::printf("model %s, %s, compute type %s, beam size %d, language %s\n%s\n",
              args.model.path.string().c_str(), backend.c_str(), args.model.compute_type.c_str(),
              args.beam_size, args.language.empty() ? "auto" : args.language.c_str(),
              mode_text(args).c_str());
}

TranscribeOptions transcribe_options(const BenchArguments& args) {
  TranscribeOptions options;
  options.language = args.language == "auto" ? "" : args.language;
  options.beam_size = args.beam_size;
  apply_long_form_options(args.long_form, options);
  options.without_timestamps = args.without_timestamps.get();
  options.word_timestamps = args.word_timestamps;
  return options;
}

FileResult transcribe_file(const Model& model, const TranscribeOptions& options,
                           const std::string& file) {
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
  r.duration_after_vad = transcription.duration_after_vad;
  r.segments = static_cast<int>(transcription.segments.size());
  for (const auto& segment : transcription.segments) r.text += segment.text;
  return r;
}

int run(const BenchArguments& args) {
  const auto load_start = Clock::now();
  const auto model = Model::load(args.model);
  const double load_seconds = seconds_since(load_start);

  const auto options = transcribe_options(args);
  std::vector<FileResult> results;
  results.reserve(args.files.size());
  for (const auto& file : args.files) {
    results.push_back(transcribe_file(model, options, file));
  }

  if (args.json) {
    print_json(args, model.backend_description(), load_seconds, results, model.timings());
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
  add_long_form_options(*command, args->long_form);
  add_optional_flag(*command, "--without-timestamps", args->without_timestamps,
                    "Decode text only (default: off sequential, on batched)");
  command->add_flag("--word-timestamps", args->word_timestamps, "Time every word");
  command->add_flag("--json", args->json,
                    "Print one JSON object (bench/compare's format) instead of a table");
  command->add_option("files", args->files, "Audio or video files")->required();
  return [args] { return run(*args); };
}

}  // namespace amanuensis::cli
