#include "decoding/timestamp_rules.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace amanuensis::decoding {
namespace {

// A toy vocabulary: text 0..9, end-of-text 10, no-timestamps 11, timestamps 12..19.
constexpr TimestampRules kRules{.end_of_text = 10,
                                .no_timestamps = 11,
                                .timestamp_begin = 12,
                                .timestamp_end = 19,
                                .max_initial_timestamp = 14};

std::vector<int> allowed(const std::vector<int>& sampled, std::vector<float> logits) {
  kRules.apply(sampled, logits);
  std::vector<int> ids;
  for (int i = 0; i < static_cast<int>(logits.size()); ++i) {
    if (!std::isinf(logits[i])) ids.push_back(i);
  }
  return ids;
}

const std::vector<float> kFlat(20, 0.0F);

TEST(TimestampRulesTest, FirstTokenIsAnEarlyTimestamp) {
  EXPECT_EQ(allowed({}, kFlat), (std::vector<int>{12, 13, 14}));
}

TEST(TimestampRulesTest, ClosedPairIsFollowedByText) {
  EXPECT_EQ(allowed({12, 3, 15, 15}, kFlat), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(TimestampRulesTest, OpenTimestampIsClosedByALaterOneOrEnds) {
  // After text then timestamp 15: end-of-text or timestamps >= 15.
  std::vector<float> logits = kFlat;
  logits[10] = 5.0F;  // a likely end-of-text survives the timestamp-probability rule
  EXPECT_EQ(allowed({12, 3, 15}, logits), (std::vector<int>{10, 15, 16, 17, 18, 19}));
  EXPECT_EQ(allowed({12, 3, 15}, kFlat), (std::vector<int>{15, 16, 17, 18, 19}));
}

TEST(TimestampRulesTest, TimestampsNeverGoBack) {
  // After text following timestamp 14, timestamps up to 14 are gone; the summed probability of
  // the five later ones beats any single text token, so only timestamps remain.
  EXPECT_EQ(allowed({12, 1, 14, 2}, kFlat), (std::vector<int>{15, 16, 17, 18, 19}));
}

TEST(TimestampRulesTest, LikelyTextIsKept) {
  std::vector<float> logits = kFlat;
  logits[5] = 10.0F;
  EXPECT_EQ(allowed({12, 1}, logits).front(), 0);
}

}  // namespace
}  // namespace amanuensis::decoding
