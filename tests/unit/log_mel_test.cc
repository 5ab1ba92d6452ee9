#include "features/log_mel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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

// A quiet tone (with a little noise, so that no bin sits at the 1e-10 clamp) of `seconds`.
std::vector<float> quiet_tone(int seconds) {
  std::vector<float> tone(static_cast<std::size_t>(seconds) * 16000);
  std::uint32_t state = 1;
  for (std::size_t i = 0; i < tone.size(); ++i) {
    state = state * 1664525U + 1013904223U;
    const float noise = (static_cast<float>(state >> 8) / 16777216.0F - 0.5F) * 1e-4F;
    // Ten times louder in the middle second: the stretch's own maximum lies there.
    const float amplitude = i >= 16000 && i < 32000 ? 0.01F : 0.001F;
    tone[i] =
        amplitude * static_cast<float>(std::sin(2.0 * std::numbers::pi * 300.0 * i / 16000.0)) +
        noise;
  }
  return tone;
}

TEST(LogMelTest, EachWindowFloorHearsAWindowAsIfAlone) {
  // One second of a loud tone, then three of a quiet one. With the recording's floor the loud
  // second lifts the quiet window's floor; with each window's, that window's features are the
  // quiet stretch's own, as computed alone. The window starts a few frames into the quiet
  // stretch, past the frames whose STFT sees across the join.
  const auto backend = kernels::make_cpu_backend(1);
  const auto quiet = quiet_tone(3);
  std::vector<float> recording(16000);
  for (std::size_t i = 0; i < recording.size(); ++i) {
    recording[i] =
        0.8F * static_cast<float>(std::sin(2.0 * std::numbers::pi * 440.0 * i / 16000.0));
  }
  recording.insert(recording.end(), quiet.begin(), quiet.end());

  const auto alone = compute_log_mel(quiet, 80, *backend);
  const auto alone_window = window(alone, 0, alone.n_frames, 3000);
  const auto each = compute_log_mel(recording, 80, *backend, Floor::kEachWindow);
  const auto whole = compute_log_mel(recording, 80, *backend);
  constexpr int kSkip = 3;
  const auto each_window = window(each, 100 + kSkip, alone.n_frames - kSkip, 3000);
  const auto whole_window = window(whole, 100 + kSkip, alone.n_frames - kSkip, 3000);

  int compared = 0;
  int differ_with_whole = 0;
  for (int m = 0; m < 80; ++m) {
    for (int f = kSkip; f < alone.n_frames - kSkip; ++f) {
      const auto at = static_cast<std::size_t>(m) * 3000 + f - kSkip;
      const float want = alone_window[static_cast<std::size_t>(m) * 3000 + f];
      // 1e-3: the two spectrograms' products round differently where OpenBLAS tiles them
      // differently (1.1e-4 apart in the quietest bin at avx2); a floor ignored is 1e-2 and more.
      EXPECT_NEAR(each_window[at], want, 1e-3F) << "bin " << m << ", frame " << f;
      differ_with_whole += std::abs(whole_window[at] - want) > 1e-2F ? 1 : 0;
      ++compared;
    }
  }
  // The recording's floor does change this window: the test would notice a Floor ignored.
  EXPECT_GT(differ_with_whole, compared / 10);
  // Padding stays faster-whisper's zeros.
  EXPECT_EQ(each_window[3000 - 1], 0.0F);
}

}  // namespace
}  // namespace amanuensis::features
