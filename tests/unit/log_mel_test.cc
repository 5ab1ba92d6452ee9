#include "features/log_mel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <numeric>

#include "amanuensis/amanuensis.h"

namespace amanuensis::features {
namespace {

TEST(LogMelTest, FrameCountAndRangeFollowFasterWhisper) {
  const auto backend = kernels::make_cpu_backend(1);
  std::vector<float> tone(16000);
  for (std::size_t i = 0; i < tone.size(); ++i) {
    tone[i] = 0.5F * static_cast<float>(std::sin(2.0 * std::numbers::pi * 440.0 * i / 16000.0));
  }
  const auto mel = compute_log_mel(tone, 80, *backend);
  EXPECT_EQ(mel.n_frames, 101);
  const auto [low, high] = std::minmax_element(mel.values.begin(), mel.values.end());
  // After clamping to (max - 8) and scaling by 1/4, the values span at most 2.
  EXPECT_LE(*high - *low, 2.0F + 1e-6F);
  // 440 Hz falls in a low mel bin: that bin must be far louder than the top one.
  const int frame = 50;
  EXPECT_GT(mel.values[10 * mel.n_frames + frame], mel.values[79 * mel.n_frames + frame] + 0.5F);
}

TEST(LogMelTest, FiltersAreSlaneyNormalised) {
  for (const int n_mels : {80, 128}) {
    const auto filters = mel_filters(n_mels);
    ASSERT_EQ(filters.size(), static_cast<std::size_t>(n_mels) * 201);
    // Each filter is a triangle whose area is about 2/width * width/2 * bin spacing = const.
    for (int m = 0; m < n_mels; ++m) {
      const auto row = filters.begin() + m * 201;
      EXPECT_GT(*std::max_element(row, row + 201), 0.0F) << "filter " << m << " is empty";
    }
  }
}

TEST(LogMelTest, WindowPadsWithZerosAndShortInputsWork) {
  const auto backend = kernels::make_cpu_backend(1);
  const std::vector<float> blip = {0.1F, -0.2F, 0.3F};
  const auto mel = compute_log_mel(blip, 80, *backend);
  EXPECT_EQ(mel.n_frames, 1);
  const auto w = window(mel, 0, mel.n_frames, 3000);
  ASSERT_EQ(w.size(), 80U * 3000U);
  EXPECT_EQ(w[1], 0.0F);
  EXPECT_THROW(compute_log_mel({}, 80, *backend), Error);
}

}  // namespace
}  // namespace amanuensis::features
