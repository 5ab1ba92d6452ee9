// amanuensis listen: live transcription of standard input, as it arrives.
//
//   arecord -q -f S16_LE -r 16000 -c 1 | amanuensis listen --model models/base
//   ffmpeg -i talk.mp3 -f wav - | amanuensis listen --model models/base --format auto
//
// Turns are found by the Silero VAD (as the realtime API's server_vad) and each is printed as one
// line when it completes. --partial shows the words confirmed so far (LocalAgreement-2) on
// standard error while a turn is still open; --json writes every event as a JSON line instead.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "audio/audio_stream.h"
#include "cli/commands.h"
#include "realtime/live_transcriber.h"
#include "realtime/task_thread.h"

namespace amanuensis::cli {

namespace {

struct ListenArguments {
  ModelOptions model;
  std::string format = "auto";
  std::string language;
  std::string prompt;
  int beam_size = 1;
  bool no_vad = false;
  realtime::TurnDetectorOptions turns;
  double partial_interval = 1.0;
  bool partial = false;
  bool json = false;
  bool timestamps = false;
};

std::string clock_text(std::int64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld.%03lld", static_cast<long long>(ms / 60000),
                static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000));
  return text;
}

// Writes the transcriber's events (its callbacks never run two at once).
class Printer {
 public:
  explicit Printer(const ListenArguments& args) : args_(args) {}

  realtime::LiveCallbacks callbacks() {
    realtime::LiveCallbacks c;
    c.on_speech_started = [this](const std::string& item, std::int64_t ms) {
      const std::lock_guard lock(mutex_);
      times_[item].first = ms;
      json_line({{"type", "speech_started"}, {"item_id", item}, {"audio_start_ms", ms}});
    };
    c.on_speech_stopped = [this](const std::string& item, std::int64_t ms) {
      const std::lock_guard lock(mutex_);
      times_[item].second = ms;
      json_line({{"type", "speech_stopped"}, {"item_id", item}, {"audio_end_ms", ms}});
    };
    c.on_delta = [this](const std::string& item, const std::string& delta,
                        const realtime::Logprobs& /*logprobs*/) {
      json_line({{"type", "delta"}, {"item_id", item}, {"delta", delta}});
      if (args_.partial && !args_.json) {
        std::fputs(delta.c_str(), stderr);
        partial_open_ = true;
      }
    };
    c.on_completed = [this](const std::string& item, const std::string& transcript,
                            const realtime::Logprobs& /*logprobs*/,
                            double seconds) { completed(item, transcript, seconds); };
    c.on_failed = [this](const std::string& item, const std::string& error) {
      json_line({{"type", "failed"}, {"item_id", item}, {"error", error}});
      if (!args_.json) std::fprintf(stderr, "listen: a turn failed: %s\n", error.c_str());
    };
    return c;
  }

 private:
  void completed(const std::string& item, const std::string& transcript, double seconds) {
    const auto first = transcript.find_first_not_of(' ');
    const std::string text = first == std::string::npos ? "" : transcript.substr(first);
    if (args_.json) {
      json_line({{"type", "completed"},
                 {"item_id", item},
                 {"transcript", transcript},
                 {"audio_seconds", seconds}});
      return;
    }
    if (partial_open_) {
      std::fputs("\n", stderr);
      partial_open_ = false;
    }
    if (text.empty()) return;
    if (args_.timestamps) {
      const auto [start, end] = take_times(item);
      std::printf("[%s --> %s] ", clock_text(start).c_str(),
                  clock_text(std::max(start, end)).c_str());
    }
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

  // The turn's start and end (speech started and stopped), forgotten once printed. A turn ended
  // by the end of the input or by --no-vad has neither: it spans from 0.
  std::pair<std::int64_t, std::int64_t> take_times(const std::string& item) {
    const std::lock_guard lock(mutex_);
    const auto found = times_.find(item);
    if (found == times_.end()) return {0, 0};
    const auto times = found->second;
    times_.erase(found);
    return times;
  }

  void json_line(const nlohmann::json& event) const {
    if (!args_.json) return;
    std::printf("%s\n",
                event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }

  const ListenArguments& args_;
  // Speech events come from the reading thread, completions from the decoder's: at full speed
  // the next turns' events arrive before a turn's line is printed.
  std::mutex mutex_;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> times_;
  bool partial_open_ = false;
};

realtime::LiveOptions live_options(const ListenArguments& args) {
  realtime::LiveOptions options;
  options.decode.language = args.language;
  options.decode.initial_prompt = args.prompt;
  options.decode.beam_size = args.beam_size;
  options.partial_interval_seconds = args.partial_interval;
  if (args.no_vad) {
    options.turn_detection.reset();  // one turn, ended by the end of the input
  } else {
    options.turn_detection = args.turns;
  }
  return options;
}

int run(const ListenArguments& args) {
  const auto format = args.format == "s16le" ? audio::LiveFormat::kPcm16 : audio::LiveFormat::kAuto;
  const Model model = Model::load(args.model);
  if (!args.language.empty() && !model.info().multilingual && args.language != "en") {
    throw Error("--language " + args.language + ": " + model.info().name +
                " is an English-only model");
  }
  auto reader = audio::LiveAudioReader::open(STDIN_FILENO, format, "<stdin>");
  realtime::TaskThread decoder;
  Printer printer(args);
  realtime::LiveTranscriber live(realtime::model_decoder(model), live_options(args),
                                 decoder.executor(), printer.callbacks());
  Waveform samples;
  while (reader->read(samples)) {
    if (samples.empty()) continue;
    // Input faster than real time (a file piped in) waits for the decoder instead of piling up.
    while (true) {
      try {
        live.push(samples);
        break;
      } catch (const realtime::BufferFull&) {
        live.wait_idle();
      }
    }
    samples.clear();
  }
  live.finish();
  return 0;
}

}  // namespace

CommandAction add_listen_command(CLI::App& app) {
  auto args = std::make_shared<ListenArguments>();
  auto* command = app.add_subcommand(
      "listen", "Transcribe standard input live, printing each turn's line as it completes");
  add_model_options(*command, args->model);
  command
      ->add_option("--format", args->format,
                   "auto (any input FFmpeg reads: WAV from arecord, MP3, ...) or s16le (raw "
                   "16-bit little-endian 16 kHz mono PCM)")
      ->check(CLI::IsMember({"auto", "s16le"}))
      ->capture_default_str();
  command->add_option("--language", args->language, "Spoken language (default: detect per turn)");
  command->add_option("--prompt", args->prompt, "Text to condition every turn on (names, style)");
  command->add_option("--beam-size", args->beam_size, "Beams (1: greedy)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  command->add_flag("--no-vad", args->no_vad,
                    "No turn detection: the whole input is one turn, printed at its end");
  command->add_option("--vad-threshold", args->turns.threshold, "Speech at or above this")
      ->check(CLI::Range(0.0F, 1.0F))
      ->capture_default_str();
  command
      ->add_option("--silence-duration-ms", args->turns.silence_duration_ms,
                   "Silence that ends a turn")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  command
      ->add_option("--prefix-padding-ms", args->turns.prefix_padding_ms,
                   "Audio kept before the speech starts")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  command
      ->add_option("--partial-interval", args->partial_interval,
                   "Seconds of audio between re-decodes of an open turn (0: none)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  command->add_flag("--partial", args->partial,
                    "Show each turn's confirmed words on standard error as they come");
  command->add_flag("--timestamps", args->timestamps, "Start each line with the turn's times");
  command->add_flag("--json", args->json, "One JSON object per event on standard output");
  return [args] { return run(*args); };
}

}  // namespace amanuensis::cli
