// Whole realtime sessions on real speech with tiny.en: LJ001-0001 as 24 kHz PCM16, base64, in
// 40 ms appends sent as fast as possible. Checks the order of events, that deltas never take
// anything back, that each transcript is its deltas plus a tail and matches a plain
// transcription of the clip; manual commits; clear; and that every bad input is answered with
// an error and the session goes on. With $AMANUENSIS_REALTIME_DUMP set, the events are appended
// to that file for tests/unit/realtime_sdk_check.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "realtime/audio_input.h"
#include "realtime/session.h"
#include "realtime/task_thread.h"

namespace amanuensis::realtime {
namespace {

using nlohmann::json;

const std::string kModels = AMANUENSIS_MODELS_DIR;
const std::string kAudio = AMANUENSIS_SHARED_AUDIO;

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    std::string clean;
    for (const char c : w) {
      if (std::isalnum(static_cast<unsigned char>(c)) != 0)
        clean += static_cast<char>(std::tolower(c));
    }
    if (!clean.empty()) out.push_back(clean);
  }
  return out;
}

double word_error_rate(const std::string& reference, const std::string& hypothesis) {
  const auto r = words(reference);
  const auto h = words(hypothesis);
  std::vector<std::size_t> row(h.size() + 1);
  for (std::size_t j = 0; j <= h.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= r.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= h.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (r[i - 1] == h[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return static_cast<double>(row[h.size()]) /
         static_cast<double>(std::max<std::size_t>(r.size(), 1));
}

// Loaded once for all tests: tiny.en, four threads at most.
const std::optional<Model>& tiny() {
  static const std::optional<Model> model = []() -> std::optional<Model> {
    if (!std::filesystem::exists(kModels + "/tiny.en/model.bin")) return std::nullopt;
    return Model::load({.path = kModels + "/tiny.en", .threads = 2});
  }();
  return model;
}

// The clip at 24 kHz as PCM16 bytes (16 kHz resampled up by 3/2 with the same filters).
std::vector<std::uint8_t> pcm24k(const std::vector<float>& audio16k) {
  PolyphaseResampler up(3, 2, 16000.0, 7500.0, 361);
  auto audio = up.push(audio16k);
  const auto tail = up.push(std::vector<float>(200, 0.0F));
  audio.insert(audio.end(), tail.begin(), tail.end());
  std::vector<std::uint8_t> bytes;
  for (const float v : audio) {
    const auto s =
        static_cast<std::int16_t>(std::clamp(std::lround(v * 32767.0F), -32768L, 32767L));
    bytes.push_back(static_cast<std::uint8_t>(s & 0xFF));
    bytes.push_back(static_cast<std::uint8_t>((s >> 8) & 0xFF));
  }
  return bytes;
}

std::string append(std::span<const std::uint8_t> bytes) {
  return json{{"type", "input_audio_buffer.append"}, {"audio", encode_base64(bytes)}}.dump();
}

struct Harness {
  std::mutex mutex;
  std::vector<json> events;
  realtime::TaskThread thread;
  std::unique_ptr<RealtimeSession> session;

  explicit Harness(std::optional<TurnDetectorOptions> turns = TurnDetectorOptions{}) {
    RealtimeSessionConfig c;
    c.decode = model_decoder(*tiny());
    c.executor = thread.executor();
    c.send = [this](std::string text) {
      const std::lock_guard lock(mutex);
      events.push_back(json::parse(text));
    };
    c.initial.turn_detection = turns;
    session = std::make_unique<RealtimeSession>(std::move(c));
  }
  ~Harness() {
    session.reset();
    if (const char* dump = std::getenv("AMANUENSIS_REALTIME_DUMP")) {
      std::ofstream out(dump, std::ios::app);
      for (const auto& e : events) out << e.dump() << '\n';
    }
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // 40 ms appends, `pause` apart (none: as fast as possible).
  void send_audio(const std::vector<std::uint8_t>& bytes, std::chrono::milliseconds pause = {}) {
    for (std::size_t at = 0; at < bytes.size(); at += 1920) {  // 40 ms at 24 kHz
      session->on_message(
          append(std::span(bytes).subspan(at, std::min<std::size_t>(1920, bytes.size() - at))));
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
  }
  std::vector<json> of(const std::string& type) {
    const std::lock_guard lock(mutex);
    std::vector<json> out;
    for (const auto& e : events) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> types() {
    const std::lock_guard lock(mutex);
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e["type"]);
    return out;
  }
};

class RealtimeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tiny()) GTEST_SKIP() << "no tiny.en model in " << kModels;
    try {
      VadStream probe;
    } catch (const Error& e) {
      GTEST_SKIP() << "no VAD model: " << e.what();
    }
    clip_ = decode_audio_file(kAudio + "/LJ001-0001.wav");
    reference_ = "";
    for (const auto& s : tiny()->transcribe(clip_, default_live_decode_options()).segments)
      reference_ += s.text;
  }
  std::vector<float> clip_;
  std::string reference_;
};

TEST_F(RealtimeSessionTest, ServerVadTurnWithDeltas) {
  Harness h;
  std::vector<float> audio(8000, 0.0F);
  audio.insert(audio.end(), clip_.begin(), clip_.end());
  audio.insert(audio.end(), 24000, 0.0F);  // 1.5 s of silence ends the turn
  // Twice real time: a re-decode (about 0.3 s on two cores) usually sees the turn grow, so that
  // two successive decodes can agree before it ends. Whether they do depends on the machine's
  // load, so deltas are not required here: LiveTranscriberTest checks them with a stand-in
  // decoder, and tests/e2e/test_realtime.py at real-time pace. What must hold whatever the
  // timing: the events' order, and a transcript that begins with the deltas.
  h.send_audio(pcm24k(audio), std::chrono::milliseconds(20));
  h.session->wait_idle();
  const auto types = h.types();
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "session.created");
  const auto position = [&](const std::string& type) {
    return std::find(types.begin(), types.end(), type) - types.begin();
  };
  EXPECT_LT(position("input_audio_buffer.speech_started"),
            position("input_audio_buffer.speech_stopped"));
  EXPECT_LT(position("input_audio_buffer.speech_stopped"),
            position("input_audio_buffer.committed"));
  EXPECT_EQ(types.back(), "conversation.item.input_audio_transcription.completed");
  EXPECT_EQ(std::count(types.begin(), types.end(), "error"), 0);

  const auto completed = h.of("conversation.item.input_audio_transcription.completed");
  ASSERT_EQ(completed.size(), 1U) << "the clip is one turn";
  const std::string item = completed[0]["item_id"];
  EXPECT_EQ(h.of("input_audio_buffer.speech_started")[0]["item_id"], item);
  std::string deltas;
  for (const auto& d : h.of("conversation.item.input_audio_transcription.delta")) {
    EXPECT_EQ(d["item_id"], item);
    deltas += d["delta"].get<std::string>();
  }
  const std::string transcript = completed[0]["transcript"];
  EXPECT_TRUE(transcript.starts_with(deltas)) << transcript << " / " << deltas;
  EXPECT_LT(word_error_rate(reference_, transcript), 0.15) << reference_ << " / " << transcript;
  EXPECT_NEAR(completed[0]["usage"]["seconds"].get<double>(), 10.0, 1.0);
  const auto started = h.of("input_audio_buffer.speech_started")[0]["audio_start_ms"].get<int>();
  EXPECT_GE(started, 0);
  EXPECT_LE(started, 700);
}

TEST_F(RealtimeSessionTest, ManualCommitClearAndBadInputs) {
  Harness h(std::nullopt);
  h.session->on_message(R"({"type": "input_audio_buffer.commit", "event_id": "c0"})");  // empty
  h.send_audio(pcm24k(std::vector<float>(clip_.begin(), clip_.begin() + 16000)));
  h.session->on_message(R"({"type": "input_audio_buffer.clear"})");
  // Bad inputs, each answered with an error.
  const char* bad[] = {
      "not json", R"({"type": "what"})", R"({"type": "input_audio_buffer.append", "audio": "!!"})",
      R"({"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}}}})",
      R"({"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}})"};
  for (const char* text : bad) h.session->on_message(text);
  // Still usable: the whole clip, committed by hand, with logprobs.
  h.session->on_message(
      R"({"type": "session.update", "session": {"type": "transcription", "include": ["item.input_audio_transcription.logprobs"]}})");
  h.send_audio(pcm24k(clip_));
  h.session->on_message(R"({"type": "input_audio_buffer.commit", "event_id": "c1"})");
  h.session->wait_idle();

  const auto errors = h.of("error");
  ASSERT_EQ(errors.size(), 6U);
  EXPECT_EQ(errors[0]["error"]["code"], "input_audio_buffer_commit_empty");
  EXPECT_EQ(errors[0]["error"]["event_id"], "c0");
  EXPECT_EQ(errors[1]["error"]["code"], "invalid_json");
  EXPECT_EQ(errors[2]["error"]["code"], "unknown_event");
  EXPECT_EQ(errors[3]["error"]["code"], "invalid_audio");
  EXPECT_EQ(errors[4]["error"]["param"], "session.audio.input.format.rate");
  EXPECT_EQ(errors[5]["error"]["param"], "session.audio.input.turn_detection.type");
  EXPECT_EQ(h.of("input_audio_buffer.cleared").size(), 1U);
  EXPECT_TRUE(h.of("input_audio_buffer.speech_started").empty());
  const auto updated = h.of("session.updated");
  ASSERT_EQ(updated.size(), 1U);
  EXPECT_TRUE(updated[0]["session"]["audio"]["input"]["turn_detection"].is_null());
  const auto completed = h.of("conversation.item.input_audio_transcription.completed");
  ASSERT_EQ(completed.size(), 1U) << "the cleared audio is never transcribed";
  const std::string transcript = completed[0]["transcript"];
  EXPECT_LT(word_error_rate(reference_, transcript), 0.15) << reference_ << " / " << transcript;
  ASSERT_TRUE(completed[0].contains("logprobs"));
  std::string joined;
  for (const auto& l : completed[0]["logprobs"]) {
    joined += l["token"].get<std::string>();
    EXPECT_LE(l["logprob"].get<double>(), 0.0);
  }
  EXPECT_EQ(joined, transcript);
  EXPECT_EQ(h.of("input_audio_buffer.committed").size(), 1U);
}

TEST_F(RealtimeSessionTest, BetaUpdateAndG711) {
  Harness h;
  h.session->on_message(
      R"({"type": "transcription_session.update", "session": {"input_audio_format": "g711_ulaw", "turn_detection": null}})");
  ASSERT_EQ(h.of("transcription_session.updated").size(), 1U);
  EXPECT_EQ(h.of("transcription_session.updated")[0]["session"]["input_audio_format"], "g711_ulaw");
  // The clip as 8 kHz mu-law: every other sample (the clip has little above 4 kHz), nearest code.
  std::vector<std::uint8_t> codes;
  for (std::size_t i = 0; i < clip_.size(); i += 2) {
    const float v = clip_[i];
    int best = 0;
    for (int c = 0; c < 256; ++c) {
      if (std::abs(mulaw_to_linear(c) / 32768.0F - v) <
          std::abs(mulaw_to_linear(best) / 32768.0F - v))
        best = c;
    }
    codes.push_back(static_cast<std::uint8_t>(best));
  }
  for (std::size_t at = 0; at < codes.size(); at += 320) {
    h.session->on_message(
        append(std::span(codes).subspan(at, std::min<std::size_t>(320, codes.size() - at))));
  }
  h.session->on_message(R"({"type": "input_audio_buffer.commit"})");
  h.session->wait_idle();
  const auto completed = h.of("conversation.item.input_audio_transcription.completed");
  ASSERT_EQ(completed.size(), 1U);
  EXPECT_LT(word_error_rate(reference_, completed[0]["transcript"]), 0.3);
}

}  // namespace
}  // namespace amanuensis::realtime
