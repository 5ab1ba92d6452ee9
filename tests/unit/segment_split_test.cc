// Cutting a window's tokens into segments at timestamp pairs, and the hallucination checks that
// use word timings (faster-whisper's _split_segments_by_timestamps, word_anomaly_score and the
// hallucination_silence_threshold skip).
#include "decoding/segment_split.h"

#include <gtest/gtest.h>

#include <vector>

#include "decoding/hallucination.h"

namespace amanuensis::decoding {
namespace {

constexpr int kTs = 1000;  // timestamp_begin: token kTs + n is time n * 0.02 s

int ts(double seconds) { return kTs + static_cast<int>(seconds / 0.02 + 0.5); }

TEST(SplitAtTimestampsTest, CutsAtConsecutiveTimestampsAndSeeksToTheLastOne) {
  // <0.00> a b <2.00><2.00> c <4.00><4.00> d (unfinished: no closing timestamp)
  const std::vector<int> tokens = {ts(0), 1, 2, ts(2), ts(2), 3, ts(4), ts(4), 4};
  const auto split = split_at_timestamps(kTs, tokens, 10.0, 1000, 3000, 30.0);
  ASSERT_EQ(split.segments.size(), 2U);
  EXPECT_DOUBLE_EQ(split.segments[0].start, 10.0);
  EXPECT_DOUBLE_EQ(split.segments[0].end, 12.0);
  EXPECT_EQ(split.segments[0].tokens, (std::vector<int>{ts(0), 1, 2, ts(2)}));
  EXPECT_DOUBLE_EQ(split.segments[1].start, 12.0);
  EXPECT_DOUBLE_EQ(split.segments[1].end, 14.0);
  EXPECT_FALSE(split.single_timestamp_ending);
  // The unfinished text after <4.00> is decoded again from there: 4 s = 400 frames.
  EXPECT_EQ(split.next_seek, 1000 + 400);
}

TEST(SplitAtTimestampsTest, SingleTimestampAtTheEndClosesTheWindow) {
  const std::vector<int> tokens = {ts(0), 1, ts(1.5), ts(1.5), 2, ts(3)};
  const auto split = split_at_timestamps(kTs, tokens, 0.0, 0, 3000, 30.0);
  EXPECT_TRUE(split.single_timestamp_ending);
  ASSERT_EQ(split.segments.size(), 2U);
  EXPECT_DOUBLE_EQ(split.segments[1].start, 1.5);
  EXPECT_DOUBLE_EQ(split.segments[1].end, 3.0);
  EXPECT_EQ(split.next_seek, 3000);  // the speech ended inside the window: move past it
}

TEST(SplitAtTimestampsTest, TextWithoutPairsIsOneSegmentToItsLastTimestampOrTheEnd) {
  const std::vector<int> with_end = {ts(0), 1, 2, ts(7)};
  const auto timed = split_at_timestamps(kTs, with_end, 5.0, 500, 3000, 30.0);
  ASSERT_EQ(timed.segments.size(), 1U);
  EXPECT_DOUBLE_EQ(timed.segments[0].end, 5.0 + 7.0);
  EXPECT_EQ(timed.next_seek, 3500);
  // No timestamps at all (without_timestamps): the segment lasts the given duration.
  const std::vector<int> text = {1, 2, 3};
  const auto plain = split_at_timestamps(kTs, text, 42.0, 0, 1300, 12.34);
  ASSERT_EQ(plain.segments.size(), 1U);
  EXPECT_DOUBLE_EQ(plain.segments[0].start, 42.0);
  EXPECT_DOUBLE_EQ(plain.segments[0].end, 42.0 + 12.34);
  EXPECT_EQ(plain.segments[0].tokens, text);
}

TimedWord word(const char* text, double start, double end, float probability) {
  return {text, {}, start, end, probability};
}

TEST(HallucinationTest, WordAnomalyScoresImprobableShortAndLongWords) {
  EXPECT_DOUBLE_EQ(word_anomaly_score(word(" fine", 1.0, 1.4, 0.9F)), 0.0);
  EXPECT_DOUBLE_EQ(word_anomaly_score(word(" doubt", 1.0, 1.4, 0.1F)), 1.0);
  EXPECT_NEAR(word_anomaly_score(word(" tick", 1.0, 1.033, 0.9F)), (0.133 - 0.033) * 15, 1e-9);
  EXPECT_DOUBLE_EQ(word_anomaly_score(word(" drone", 1.0, 5.0, 0.9F)), 2.0);
}

TEST(HallucinationTest, SegmentAnomalySkipsPunctuationAndNeedsWords) {
  EXPECT_FALSE(is_segment_anomaly(nullptr));
  SegmentDraft empty;
  EXPECT_FALSE(is_segment_anomaly(&empty));
  SegmentDraft odd;
  odd.words = {word(" uh", 0, 0.02, 0.05F), word(".", 0.02, 0.03, 0.01F)};
  EXPECT_TRUE(is_segment_anomaly(&odd));  // one word, score >= 1
  SegmentDraft speech;
  speech.words = {word(" Hello", 0, 0.4, 0.9F), word(" there", 0.4, 0.8, 0.8F)};
  EXPECT_FALSE(is_segment_anomaly(&speech));
}

SegmentDraft segment(double start, double end, std::vector<TimedWord> words) {
  return {start, end, {1}, std::move(words)};
}

TEST(HallucinationTest, LeadingHallucinationAfterSilenceSkipsTheWindow) {
  WindowBounds window{.seek = 1000,
                      .frames = 3000,
                      .start = 10.0,
                      .duration = 30.0,
                      .end_time = 40.0,
                      .content_duration = 100.0,
                      .content_frames = 10000};
  std::vector<SegmentDraft> segments = {segment(18.0, 19.0, {word(" you", 18.0, 18.01, 0.05F)})};
  const auto skip = skip_hallucinations(segments, 2.0, window, 10.0);
  EXPECT_TRUE(skip.skip_window);
  ASSERT_TRUE(skip.seek.has_value());
  EXPECT_EQ(*skip.seek, 1000 + 800);  // resume where the hallucination starts
}

TEST(HallucinationTest, HallucinationBetweenSilencesIsCutOff) {
  WindowBounds window{.seek = 0,
                      .frames = 3000,
                      .start = 0.0,
                      .duration = 30.0,
                      .end_time = 30.0,
                      .content_duration = 100.0,
                      .content_frames = 10000};
  std::vector<SegmentDraft> segments = {
      segment(0.0, 2.0, {word(" Real", 0.0, 0.5, 0.9F), word(" words", 0.5, 1.0, 0.9F)}),
      segment(9.0, 9.1, {word(" you", 9.0, 9.01, 0.05F)}),
      segment(20.0, 21.0, {word(" More", 20.0, 20.5, 0.9F)})};
  const auto skip = skip_hallucinations(segments, 3.0, window, 0.0);
  EXPECT_FALSE(skip.skip_window);
  ASSERT_EQ(segments.size(), 1U);  // the hallucination and what follows are dropped
  ASSERT_TRUE(skip.seek.has_value());
  EXPECT_EQ(*skip.seek, 900);
  // Without surrounding silence nothing is cut.
  std::vector<SegmentDraft> dense = {segment(0.0, 2.0, {word(" Real", 0.0, 0.5, 0.9F)}),
                                     segment(2.5, 2.6, {word(" you", 2.5, 2.51, 0.05F)}),
                                     segment(3.0, 4.0, {word(" More", 3.0, 3.5, 0.9F)})};
  EXPECT_FALSE(skip_hallucinations(dense, 3.0, window, 0.0).seek.has_value());
  EXPECT_EQ(dense.size(), 3U);
}

}  // namespace
}  // namespace amanuensis::decoding
