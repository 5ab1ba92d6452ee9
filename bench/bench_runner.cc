// One benchmark run of our engine, for bench/compare: loads a model with a compute type and a
// thread count, transcribes the files one after another, and prints one JSON object with the
// load time, each file's wall time, time to first segment and text, and the encoder and decoder
// time the model measured. Peak memory and CPU time are measured by the caller, from outside.
//
//   amanuensis_bench_runner --model models/base --compute-type int8 --threads 2 --beam-size 5
//                           [--language en] FILE...
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/transcriber.h"
#include "kernels/backend.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"
#include "model/whisper_weights.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  std::string compute_type = "default";
  std::string language = "en";
  int threads = 2;
  int beam_size = 5;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model") {
      model_dir = value();
    } else if (arg == "--compute-type") {
      compute_type = value();
    } else if (arg == "--threads") {
      threads = std::stoi(value());
    } else if (arg == "--beam-size") {
      beam_size = std::stoi(value());
    } else if (arg == "--language") {
      language = value();
    } else {
      files.push_back(arg);
    }
  }
  if (model_dir.empty() || files.empty()) {
    std::cerr << "usage: amanuensis_bench_runner --model DIR [--compute-type T] [--threads N] "
                 "[--beam-size B] [--language L] FILE...\n";
    return 2;
  }
  try {
    namespace am = amanuensis;
    const auto load_start = std::chrono::steady_clock::now();
    auto weights = am::model::load_whisper_weights(
        model_dir, am::model::weight_type_for(compute_type, model_dir));
    auto tokenizer = am::model::Tokenizer::load(model_dir);
    const am::model::WhisperModel model(std::move(weights), am::kernels::make_cpu_backend(threads));
    const double load_seconds = seconds_since(load_start);

    am::TranscribeOptions options;
    options.language = language;
    options.beam_size = beam_size;
    nlohmann::json out;
    out["engine"] = "amanuensis";
    out["backend"] = model.backend().describe();
    out["load_seconds"] = load_seconds;
    out["files"] = nlohmann::json::array();
    for (const auto& file : files) {
      const auto audio = am::decode_audio_file(file);
      const auto start = std::chrono::steady_clock::now();
      double first_segment = -1.0;
      int tokens = 0;
      const auto result = am::decoding::transcribe(
          model, tokenizer, audio, options,
          [&](const am::Segment& segment) {
            if (first_segment < 0) first_segment = seconds_since(start);
            tokens += static_cast<int>(segment.tokens.size());
          },
          std::stop_token{});
      std::string text;
      for (const auto& segment : result.segments) text += segment.text;
      out["files"].push_back({{"path", file},
                              {"audio_seconds", result.duration},
                              {"wall_seconds", seconds_since(start)},
                              {"first_segment_seconds", first_segment},
                              {"tokens", tokens},
                              {"text", text}});
    }
    const auto stats = model.stats();
    out["encoder_seconds"] = stats.encoder_seconds;
    out["decoder_seconds"] = stats.decoder_seconds;
    out["decoder_calls"] = stats.decoder_calls;
    std::cout << out.dump() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
