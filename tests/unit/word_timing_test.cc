// Dynamic time warping of word timestamps (decoding/word_timing.h) against openai/whisper's
// dtw_cpu, which CTranslate2 and faster-whisper follow: the expected paths below are what
// whisper's timing.py returns for the same matrices, ties included.
#include "decoding/word_timing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "support/random_values.h"

namespace amanuensis::decoding {
namespace {

using Path = std::vector<std::pair<int, int>>;

TEST(DynamicTimeWarpingTest, FollowsACheapDiagonal) {
  std::vector<float> cost(16, 1.0F);
  for (int i = 0; i < 4; ++i) cost[static_cast<std::size_t>(i) * 4 + i] = 0.0F;
  EXPECT_EQ(dynamic_time_warping(cost, 4, 4), (Path{{0, 0}, {1, 1}, {2, 2}, {3, 3}}));
}

TEST(DynamicTimeWarpingTest, FollowsTheCheapestMonotonicPath) {
  // Cost is low on the diagonal band: token 0 at frames 0-1, token 1 at frames 2-3.
  const std::vector<float> cost = {-1, -1, 1,  1,  //
                                   1,  1,  -1, -1};
  EXPECT_EQ(dynamic_time_warping(cost, 2, 4), (Path{{0, 0}, {0, 1}, {1, 2}, {1, 3}}));
}

TEST(DynamicTimeWarpingTest, TiesGoAsWhisperTakesThem) {
  // Equal costs: whisper steps left (along the frames) unless one predecessor is strictly
  // cheaper, so on a flat matrix the text advances first and the frames after.
  EXPECT_EQ(dynamic_time_warping(std::vector<float>(6, 0.0F), 2, 3),
            (Path{{0, 0}, {1, 0}, {1, 1}, {1, 2}}));
  const std::vector<float> cost = {2, 1, 2, 2, 1, 2, 2,  //
                                   0, 0, 0, 0, 2, 2, 0,  //
                                   1, 2, 0, 2, 0, 1, 2,  //
                                   0, 1, 0, 2, 0, 2, 1};
  EXPECT_EQ(dynamic_time_warping(cost, 4, 7),
            (Path{{0, 0}, {1, 0}, {1, 1}, {1, 2}, {1, 3}, {2, 4}, {2, 5}, {3, 6}}));
}

TEST(DynamicTimeWarpingTest, AlignsTokensToTheFramesTheyAttendTo) {
  // Three tokens over five frames, the cost being minus the attention as in find_alignment.
  const std::vector<float> attention = {0.9F, 0.8F, 0.1F, 0.0F, 0.0F,  //
                                        0.0F, 0.1F, 0.7F, 0.9F, 0.2F,  //
                                        0.0F, 0.0F, 0.0F, 0.3F, 0.8F};
  std::vector<float> cost(attention.size());
  std::transform(attention.begin(), attention.end(), cost.begin(), [](float a) { return -a; });
  EXPECT_EQ(dynamic_time_warping(cost, 3, 5),
            (Path{{0, 0}, {0, 1}, {1, 1}, {1, 2}, {1, 3}, {2, 3}, {2, 4}}));
}

// The least total cost of a monotone path from (0, 0) to (rows - 1, cols - 1), by a plain
// recurrence that keeps no trace.
double least_cost(const std::vector<float>& cost, int rows, int cols) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<std::size_t>(rows) * cols, inf);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      double before = (i == 0 && j == 0) ? 0.0 : inf;
      if (i > 0) before = std::min(before, best[(i - 1) * cols + j]);
      if (j > 0) before = std::min(before, best[i * cols + j - 1]);
      if (i > 0 && j > 0) before = std::min(before, best[(i - 1) * cols + j - 1]);
      best[i * cols + j] = before + cost[static_cast<std::size_t>(i) * cols + j];
    }
  }
  return best.back();
}

TEST(DynamicTimeWarpingTest, RandomMatricesGiveAConnectedPathOfLeastCost) {
  std::mt19937 random(11);
  std::uniform_int_distribution<int> size(1, 24);
  for (int trial = 0; trial < 200; ++trial) {
    const int rows = size(random);
    const int cols = size(random) + rows;  // more frames than tokens, as in a window
    const auto cost = test_support::random_values(static_cast<std::size_t>(rows) * cols, 1.0F,
                                                  static_cast<unsigned>(trial));
    const auto path = dynamic_time_warping(cost, rows, cols);
    ASSERT_FALSE(path.empty());
    EXPECT_EQ(path.front(), std::make_pair(0, 0));
    EXPECT_EQ(path.back(), std::make_pair(rows - 1, cols - 1));
    double total = cost[0];
    for (std::size_t k = 1; k < path.size(); ++k) {
      const int di = path[k].first - path[k - 1].first;
      const int dj = path[k].second - path[k - 1].second;
      ASSERT_TRUE((di == 1 || di == 0) && (dj == 1 || dj == 0) && di + dj > 0)
          << "step " << k << " of trial " << trial;
      total += cost[static_cast<std::size_t>(path[k].first) * cols + path[k].second];
    }
    EXPECT_NEAR(total, least_cost(cost, rows, cols), 1e-4) << "trial " << trial;
  }
}

}  // namespace
}  // namespace amanuensis::decoding
