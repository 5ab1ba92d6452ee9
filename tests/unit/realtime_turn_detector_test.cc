// server_vad turn detection: thresholds with hysteresis, prefix padding, silence duration, on
// made-up probabilities and on real speech through the streaming VAD.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "realtime/turn_detector.h"

namespace amanuensis::realtime {
namespace {

using Turns = std::vector<std::pair<std::int64_t, std::int64_t>>;  // [start, end) samples

Turns run(TurnDetector& detector, const std::vector<float>& probs) {
  Turns turns;
  for (const float p : probs) {
    if (const auto e = detector.push(p)) {
      if (e->kind == TurnEvent::Kind::kSpeechStarted) {
        turns.emplace_back(e->sample, -1);
      } else {
        turns.back().second = e->sample;
      }
    }
  }
  return turns;
}

std::vector<float> windows(std::initializer_list<std::pair<int, float>> runs) {
  std::vector<float> probs;
  for (const auto& [count, p] : runs) probs.insert(probs.end(), count, p);
  return probs;
}

TEST(TurnDetectorTest, StartsWithPaddingAndStopsAfterTheSilence) {
  TurnDetector detector;  // 0.5, 300 ms padding, 500 ms silence
  // 20 silent windows, 30 speech windows, 20 silent: speech from window 20 (sample 10240).
  const auto turns = run(detector, windows({{20, 0.1F}, {30, 0.9F}, {20, 0.1F}}));
  // Silence from window 50; 500 ms = 8000 samples is complete at the end of window 65 (16 windows
  // = 8192 samples >= 8000).
  ASSERT_EQ(turns, (Turns{{10240 - 4800, 66 * 512}}));
  EXPECT_FALSE(detector.in_speech());
}

TEST(TurnDetectorTest, HysteresisAndClamping) {
  TurnDetectorOptions o;
  o.prefix_padding_ms = 1000;
  TurnDetector detector(o);
  // Speech at window 2: the padding is clamped at 0. Between the thresholds (0.35-0.5) a turn
  // neither ends nor restarts its silence.
  auto turns = run(detector, windows({{2, 0.0F}, {5, 0.8F}, {40, 0.4F}, {5, 0.8F}, {10, 0.1F}}));
  ASSERT_EQ(turns.size(), 1U);
  EXPECT_EQ(turns[0].first, 0);
  EXPECT_EQ(turns[0].second, -1);  // still open: 10 windows (320 ms) of silence so far
  const auto stop = detector.force_stop();
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->sample, 62 * 512);
  // The next turn's padding never reaches back into the previous turn.
  turns = run(detector, windows({{3, 0.9F}}));
  ASSERT_EQ(turns.size(), 1U);
  EXPECT_EQ(turns[0].first, 62 * 512);
  EXPECT_FALSE(detector.force_stop() == std::nullopt);
  EXPECT_EQ(detector.force_stop(), std::nullopt);
}

std::vector<float> clip(const std::string& name) {
  return decode_audio_file(std::string(AMANUENSIS_SHARED_AUDIO) + "/" + name);
}

TEST(TurnDetectorTest, RealSpeechTwoUtterancesMakeTwoTurns) {
  std::vector<float> audio(8000, 0.0F);  // 0.5 s of silence
  const auto first = clip("LJ001-0002.wav");
  const auto second = clip("LJ001-0001.wav");
  audio.insert(audio.end(), first.begin(), first.end());
  const auto second_at = static_cast<std::int64_t>(audio.size()) + 24000;
  audio.insert(audio.end(), 24000, 0.0F);  // 1.5 s between them
  audio.insert(audio.end(), second.begin(), second.end());
  audio.insert(audio.end(), 16000, 0.0F);
  std::vector<float> probs;
  try {
    VadStream vad;
    for (std::size_t at = 0; at < audio.size(); at += 640) {  // 40 ms pushes
      const auto p =
          vad.push(std::span(audio).subspan(at, std::min<std::size_t>(640, audio.size() - at)));
      probs.insert(probs.end(), p.begin(), p.end());
    }
  } catch (const Error& e) {
    GTEST_SKIP() << "no VAD model: " << e.what();
  }
  TurnDetector detector;
  const auto turns = run(detector, probs);
  ASSERT_EQ(turns.size(), 2U);
  // The first turn starts within the padding before the speech and ends after it.
  EXPECT_GE(turns[0].first, 8000 - 4800 - 512);
  EXPECT_LE(turns[0].first, 8000 + 3200);
  EXPECT_GE(turns[0].second, 8000 + static_cast<std::int64_t>(first.size()) - 8000);
  EXPECT_LE(turns[0].second, second_at);
  EXPECT_GE(turns[1].first, turns[0].second);
  EXPECT_LE(turns[1].first, second_at + 3200);
  EXPECT_GT(turns[1].second, second_at + static_cast<std::int64_t>(second.size()) - 8000);
}

}  // namespace
}  // namespace amanuensis::realtime
