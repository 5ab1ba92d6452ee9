// From probabilities to speech spans (faster-whisper's get_speech_timestamps), chunking, the
// timestamp map and option validation. The expected spans were computed with faster-whisper 1.2.1's
// get_speech_timestamps fed the same probabilities (its model replaced by a stub).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "vad/speech_timestamps.h"

namespace amanuensis::vad {
namespace {

// Spans as (start, end) pairs, which gtest compares and prints.
using Spans = std::vector<std::pair<std::int64_t, std::int64_t>>;

Spans pairs(const std::vector<SpeechSpan>& spans) {
  Spans out;
  for (const auto& s : spans) out.emplace_back(s.start, s.end);
  return out;
}

std::vector<SpeechSpan> speech_spans(const Spans& spans) {
  std::vector<SpeechSpan> out;
  for (const auto& [start, end] : spans) out.push_back({start, end});
  return out;
}

constexpr int kWindows = 100;
constexpr std::int64_t kAudio = kWindows * 512 - 100;  // 51100 samples: 100 windows once padded

// Probabilities 0 except value v over windows [first, last) for each (first, last, v).
std::vector<float> pattern(std::initializer_list<std::tuple<int, int, float>> runs) {
  std::vector<float> probs(kWindows, 0.0F);
  for (const auto& [first, last, value] : runs) {
    for (int i = first; i < last; ++i) probs[i] = value;
  }
  return probs;
}

Spans spans(const std::vector<float>& probs, const VadOptions& options = {}) {
  return pairs(speech_timestamps(probs, kAudio, options));
}

TEST(VadSpeechTimestampsTest, SilenceHasNoSpeech) { EXPECT_EQ(spans(pattern({})), Spans{}); }

TEST(VadSpeechTimestampsTest, DefaultPaddingAndClamping) {
  // Speech at windows 10-19 ends 2 s later; 400 ms padding, clamped at 0.
  EXPECT_EQ(spans(pattern({{10, 20, 0.9F}})), (Spans{{0, 16640}}));
  // Still open at the end: ends with the audio (not the padded audio).
  EXPECT_EQ(spans(pattern({{90, 100, 0.9F}})), (Spans{{39680, 51100}}));
  VadOptions o;
  o.min_silence_duration_ms = 100;
  o.speech_pad_ms = 100;
  EXPECT_EQ(spans(pattern({{1, 5, 0.9F}, {95, 100, 0.9F}}), o), (Spans{{0, 4160}, {47040, 51100}}));
}

TEST(VadSpeechTimestampsTest, MinSilenceDecidesMerging) {
  const auto probs = pattern({{10, 20, 0.9F}, {40, 50, 0.9F}});
  EXPECT_EQ(spans(probs), (Spans{{0, 51100}}));  // 640 ms gap < 2 s: one span
  VadOptions o;
  o.min_silence_duration_ms = 160;
  // Two spans; the gap (10240 samples) is below 2 x 400 ms of padding: split in the middle.
  EXPECT_EQ(spans(probs, o), (Spans{{0, 15360}, {15360, 32000}}));
  o.min_silence_duration_ms = 100;
  EXPECT_EQ(spans(pattern({{10, 20, 0.9F}, {25, 35, 0.9F}}), o),
            (Spans{{0, 11520}, {11520, 24320}}));
}

TEST(VadSpeechTimestampsTest, NegThresholdHysteresis) {
  const auto probs = pattern({{10, 20, 0.9F}, {20, 30, 0.4F}, {30, 40, 0.9F}});
  VadOptions o;
  o.min_silence_duration_ms = 100;
  o.speech_pad_ms = 0;
  // 0.4 is below the threshold but above the default neg_threshold (0.35): speech goes on.
  EXPECT_EQ(spans(probs, o), (Spans{{5120, 20480}}));
  o.neg_threshold = 0.45F;
  EXPECT_EQ(spans(probs, o), (Spans{{5120, 10240}, {15360, 20480}}));
  VadOptions low;
  low.threshold = 0.3F;
  low.speech_pad_ms = 0;
  EXPECT_EQ(spans(pattern({{10, 20, 0.35F}}), low), (Spans{{5120, 10240}}));
}

TEST(VadSpeechTimestampsTest, MinSpeechDropsShortSpans) {
  VadOptions o;
  o.min_silence_duration_ms = 100;
  o.speech_pad_ms = 0;
  o.min_speech_duration_ms = 250;
  EXPECT_EQ(spans(pattern({{10, 12, 0.9F}, {40, 60, 0.9F}}), o), (Spans{{20480, 30720}}));
}

TEST(VadSpeechTimestampsTest, MaxSpeechSplits) {
  VadOptions o;
  o.speech_pad_ms = 0;
  o.max_speech_duration_s = 1.0F;
  // No silence to split at: cut where the limit is passed, restart at the next speech window.
  EXPECT_EQ(spans(pattern({{10, 90, 0.9F}}), o),
            (Spans{{5120, 20992}, {21504, 37376}, {37888, 51100}}));
  o.max_speech_duration_s = 1.5F;
  // A 160 ms silence (over 98 ms): split there, the next span starting where speech resumed.
  EXPECT_EQ(spans(pattern({{10, 30, 0.9F}, {30, 35, 0.1F}, {35, 90, 0.9F}}), o),
            (Spans{{5120, 15360}, {17920, 41472}, {41984, 51100}}));
  // A 64 ms silence is too short to split at.
  EXPECT_EQ(spans(pattern({{10, 30, 0.9F}, {30, 32, 0.1F}, {32, 90, 0.9F}}), o),
            (Spans{{5120, 28672}, {29184, 51100}}));
  // Silent since the last long silence when the limit is reached: the span ends there.
  o.min_silence_duration_ms = 5000;
  EXPECT_EQ(spans(pattern({{10, 30, 0.9F}, {30, 60, 0.1F}}), o), (Spans{{5120, 15360}}));
}

TEST(VadCollectChunksTest, MergesUpToTheLimit) {
  const auto s = speech_spans({{0, 16000}, {32000, 48000}, {64000, 112000}, {120000, 124000}});
  const auto one = collect_chunks(s, std::numeric_limits<double>::infinity());
  ASSERT_EQ(one.size(), 1U);
  EXPECT_EQ(one[0].offset, 0);
  EXPECT_EQ(one[0].samples, 16000 + 16000 + 48000 + 4000);
  EXPECT_EQ(pairs(one[0].spans), pairs(s));

  // 3 s = 48000 samples: 1 s + 1 s, then the 3 s span alone (adding 0.25 s would pass the limit).
  const auto chunks = collect_chunks(s, 3.0);
  ASSERT_EQ(chunks.size(), 3U);
  EXPECT_EQ(chunks[0].offset, 0);
  EXPECT_EQ(chunks[0].samples, 32000);
  EXPECT_EQ(pairs(chunks[0].spans), (Spans{{0, 16000}, {32000, 48000}}));
  EXPECT_EQ(chunks[1].offset, 32000);
  EXPECT_EQ(chunks[1].samples, 48000);
  EXPECT_EQ(pairs(chunks[1].spans), (Spans{{64000, 112000}}));
  EXPECT_EQ(chunks[2].offset, 80000);
  EXPECT_EQ(chunks[2].samples, 4000);
  EXPECT_EQ(pairs(chunks[2].spans), (Spans{{120000, 124000}}));
}

TEST(VadCollectChunksTest, EmptyAndOversizedSpans) {
  const auto none = collect_chunks({}, 30.0);
  ASSERT_EQ(none.size(), 1U);
  EXPECT_EQ(none[0].samples, 0);
  EXPECT_TRUE(none[0].spans.empty());
  // A first span longer than the limit gets a chunk of its own, with no empty chunk before it.
  const auto chunks = collect_chunks(speech_spans({{0, 64000}, {70000, 80000}}), 2.0);
  ASSERT_EQ(chunks.size(), 2U);
  EXPECT_EQ(pairs(chunks[0].spans), (Spans{{0, 64000}}));
  EXPECT_EQ(chunks[1].offset, 64000);
  EXPECT_EQ(pairs(chunks[1].spans), (Spans{{70000, 80000}}));
}

TEST(VadGatherSpeechTest, ConcatenatesAndChecksBounds) {
  const std::vector<float> audio = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(gather_speech(audio, speech_spans({{1, 3}, {5, 6}, {8, 10}})),
            (std::vector<float>{1, 2, 5, 8, 9}));
  EXPECT_THROW(gather_speech(audio, speech_spans({{8, 11}})), Error);
  EXPECT_THROW(gather_speech(audio, speech_spans({{5, 4}})), Error);
}

TEST(VadTimestampMapTest, AddsTheSilenceBefore) {
  // Spans of 1 s at 1-2 s and 3-4 s: 1 s of silence before the first, 2 s before the second.
  const SpeechTimestampMap map(speech_spans({{16000, 32000}, {48000, 64000}}));
  EXPECT_EQ(map.chunk_index(0.5), 0);
  EXPECT_DOUBLE_EQ(map.original_time(0.5), 1.5);
  // 1.0 s is the first span's end: the second span's start unless it is an end time.
  EXPECT_EQ(map.chunk_index(1.0), 1);
  EXPECT_DOUBLE_EQ(map.original_time(1.0), 3.0);
  EXPECT_EQ(map.chunk_index(1.0, true), 0);
  EXPECT_DOUBLE_EQ(map.original_time(1.0, std::nullopt, true), 2.0);
  EXPECT_DOUBLE_EQ(map.original_time(1.0, 0), 2.0);
  // Past the end: the last span.
  EXPECT_EQ(map.chunk_index(9.0), 1);
  EXPECT_DOUBLE_EQ(map.original_time(9.0), 11.0);
  // Rounded to 2 decimals as Python rounds: exact ties to even.
  EXPECT_DOUBLE_EQ(map.original_time(0.123456), 1.12);
  EXPECT_DOUBLE_EQ(map.original_time(0.125), 1.12);
  EXPECT_DOUBLE_EQ(map.original_time(0.375), 1.38);
  EXPECT_THROW(static_cast<void>(map.original_time(0.5, 2)), Error);
  const SpeechTimestampMap empty(std::vector<SpeechSpan>{});
  EXPECT_EQ(empty.chunk_index(1.0), 0);
  EXPECT_DOUBLE_EQ(empty.original_time(1.234), 1.23);
}

std::string validation_error(const VadOptions& options) {
  try {
    validate(options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(VadOptionsTest, ValidateNamesTheField) {
  EXPECT_EQ(validation_error({}), "");
  VadOptions o;
  o.max_speech_duration_s = 30;
  o.neg_threshold = 0.2F;
  EXPECT_EQ(validation_error(o), "");
  const auto bad = [](auto change, const std::string& field) {
    VadOptions options;
    change(options);
    const auto message = validation_error(options);
    EXPECT_NE(message.find(field), std::string::npos) << "'" << message << "' for " << field;
  };
  bad([](VadOptions& v) { v.threshold = 1.5F; }, "threshold");
  bad([](VadOptions& v) { v.threshold = std::numeric_limits<float>::quiet_NaN(); }, "threshold");
  bad([](VadOptions& v) { v.neg_threshold = -0.1F; }, "neg_threshold");
  bad([](VadOptions& v) { v.min_speech_duration_ms = -1; }, "min_speech_duration_ms");
  bad([](VadOptions& v) { v.max_speech_duration_s = 0; }, "max_speech_duration_s");
  bad([](VadOptions& v) { v.max_speech_duration_s = std::numeric_limits<float>::quiet_NaN(); },
      "max_speech_duration_s");
  bad([](VadOptions& v) { v.min_silence_duration_ms = -5; }, "min_silence_duration_ms");
  bad([](VadOptions& v) { v.speech_pad_ms = -400; }, "speech_pad_ms");
}

}  // namespace
}  // namespace amanuensis::vad
