// ggml's block quantizations (model/ggml_blocks.h): exact bytes for hand-made blocks, ggml's
// rounding, and the error bound of every type on random values.
#include "model/ggml_blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace amanuensis::model {
namespace {

std::vector<std::uint8_t> quantize(GgmlType type, const std::vector<float>& values) {
  std::vector<std::byte> out(values.size() / kGgmlBlockSize * ggml_block_bytes(type));
  quantize_blocks(type, values, out);
  std::vector<std::uint8_t> bytes(out.size());
  std::transform(out.begin(), out.end(), bytes.begin(),
                 [](std::byte b) { return std::to_integer<std::uint8_t>(b); });
  return bytes;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& values) {
  std::vector<std::byte> blocks(values.size() / kGgmlBlockSize * ggml_block_bytes(type));
  quantize_blocks(type, values, blocks);
  std::vector<float> out(values.size());
  dequantize_blocks(type, blocks, out);
  return out;
}

std::vector<float> block_of(float (*value)(int)) {
  std::vector<float> x(kGgmlBlockSize);
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = value(j);
  return x;
}

// Nibbles: byte j holds element j low and element j + 16 high.
void expect_nibbles(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  for (std::size_t j = 0; j < 16; ++j) EXPECT_EQ(bytes[at + j], j | (j << 4U)) << j;
}

TEST(GgmlBlocks, Q4_0HandMadeBlockIsExact) {
  const auto x = block_of([](int j) { return static_cast<float>(j % 16 - 8); });
  const auto bytes = quantize(GgmlType::kQ4_0, x);
  ASSERT_EQ(bytes.size(), 18U);
  EXPECT_EQ(bytes[0], 0x00);  // d = -8 / -8 = 1.0 (fp16 0x3C00)
  EXPECT_EQ(bytes[1], 0x3C);
  expect_nibbles(bytes, 2);
  EXPECT_EQ(round_trip(GgmlType::kQ4_0, x), x);
}

TEST(GgmlBlocks, Q4_1HandMadeBlockIsExact) {
  const auto x = block_of([](int j) { return static_cast<float>(j % 16) * 0.5F + 1.0F; });
  const auto bytes = quantize(GgmlType::kQ4_1, x);
  ASSERT_EQ(bytes.size(), 20U);
  EXPECT_EQ((std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 4)),
            (std::vector<std::uint8_t>{0x00, 0x38, 0x00, 0x3C}));  // d 0.5, m 1.0
  expect_nibbles(bytes, 4);
  EXPECT_EQ(round_trip(GgmlType::kQ4_1, x), x);
}

TEST(GgmlBlocks, Q5_0HandMadeBlockIsExact) {
  const auto x = block_of([](int j) { return static_cast<float>(j - 16); });
  const auto bytes = quantize(GgmlType::kQ5_0, x);
  ASSERT_EQ(bytes.size(), 22U);
  EXPECT_EQ((std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 6)),
            (std::vector<std::uint8_t>{0x00, 0x3C, 0x00, 0x00, 0xFF, 0xFF}));  // d 1, qh
  expect_nibbles(bytes, 6);
  EXPECT_EQ(round_trip(GgmlType::kQ5_0, x), x);
}

TEST(GgmlBlocks, Q5_1HandMadeBlockIsExact) {
  const auto x = block_of([](int j) { return static_cast<float>(j) * 0.25F - 2.0F; });
  const auto bytes = quantize(GgmlType::kQ5_1, x);
  ASSERT_EQ(bytes.size(), 24U);
  EXPECT_EQ((std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 8)),
            (std::vector<std::uint8_t>{0x00, 0x34, 0x00, 0xC0, 0x00, 0x00, 0xFF, 0xFF}));
  expect_nibbles(bytes, 8);
  EXPECT_EQ(round_trip(GgmlType::kQ5_1, x), x);
}

TEST(GgmlBlocks, Q8_0HandMadeBlockIsExact) {
  const auto x = block_of([](int j) { return static_cast<float>(j * 8 - 127); });
  const auto bytes = quantize(GgmlType::kQ8_0, x);
  ASSERT_EQ(bytes.size(), 34U);
  EXPECT_EQ(bytes[0], 0x00);
  EXPECT_EQ(bytes[1], 0x3C);
  for (std::size_t j = 0; j < 32; ++j) {
    EXPECT_EQ(static_cast<std::int8_t>(bytes[2 + j]), static_cast<int>(j) * 8 - 127);
  }
  EXPECT_EQ(round_trip(GgmlType::kQ8_0, x), x);
}

TEST(GgmlBlocks, RoundsAsGgmlDoes) {
  // q8_0 rounds halves away from zero (roundf); q4_0 adds 8.5 and truncates, so a half rounds
  // up, and the level above 15 is clamped.
  std::vector<float> x(32, 0.0F);
  x[0] = -127.0F;
  x[1] = 2.5F;
  x[2] = -2.5F;
  auto q8 = round_trip(GgmlType::kQ8_0, x);
  EXPECT_EQ(q8[1], 3.0F);
  EXPECT_EQ(q8[2], -3.0F);
  std::fill(x.begin(), x.end(), 0.0F);
  x[0] = -8.0F;
  x[1] = 0.5F;
  x[2] = -0.5F;
  x[3] = 7.9F;
  const auto q4 = round_trip(GgmlType::kQ4_0, x);
  EXPECT_EQ(q4[1], 1.0F);
  EXPECT_EQ(q4[2], 0.0F);
  EXPECT_EQ(q4[3], 7.0F);
  // A block of zeros has scale 0 and dequantizes to zeros.
  const std::vector<float> zeros(32, 0.0F);
  for (const auto type :
       {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0}) {
    EXPECT_EQ(round_trip(type, zeros), zeros) << ggml_type_name(type);
  }
}

// The largest error a block may have: half a step, a whole step for the symmetric types (whose
// scale comes from the value of largest magnitude, so the opposite extreme may clamp), and the
// fp16 rounding of the scale and minimum.
float error_bound(GgmlType type, const float* x) {
  float amax = 0.0F;
  float min = x[0];
  float max = x[0];
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    amax = std::max(amax, std::fabs(x[j]));
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  const float fp16 = 1.0F / 1024.0F;
  switch (type) {
    case GgmlType::kQ4_0:
      return amax / 8.0F + amax * fp16;
    case GgmlType::kQ5_0:
      return amax / 16.0F + amax * fp16;
    case GgmlType::kQ4_1:
      return (max - min) / 30.0F + amax * fp16 * 2;
    case GgmlType::kQ5_1:
      return (max - min) / 62.0F + amax * fp16 * 2;
    default:
      return amax / 254.0F + amax * fp16;
  }
}

TEST(GgmlBlocks, RoundTripErrorIsWithinEachTypesBound) {
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0F, 0.05F);
  std::vector<float> x(32 * 256);
  for (auto& v : x) v = normal(random);
  for (std::size_t b = 0; b < 16; ++b) x[b * 32 + b] = 1.0F;  // outliers
  for (const auto type :
       {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0}) {
    const auto y = round_trip(type, x);
    double squared = 0.0;
    for (std::size_t b = 0; b < x.size() / 32; ++b) {
      const float bound = error_bound(type, x.data() + b * 32);
      for (std::size_t j = b * 32; j < b * 32 + 32; ++j) {
        ASSERT_LE(std::fabs(y[j] - x[j]), bound) << ggml_type_name(type) << " value " << j;
        squared += (y[j] - x[j]) * (y[j] - x[j]);
      }
    }
    const double rms = std::sqrt(squared / static_cast<double>(x.size()));
    EXPECT_LT(rms, type == GgmlType::kQ8_0 ? 0.001 : 0.01) << ggml_type_name(type);
  }
}

TEST(GgmlBlocks, TypesByIdAndName) {
  EXPECT_EQ(ggml_type_from_id(8), GgmlType::kQ8_0);
  EXPECT_EQ(ggml_type_from_id(6), GgmlType::kQ5_0);
  EXPECT_FALSE(ggml_type_from_id(4).has_value());
  EXPECT_FALSE(ggml_type_from_id(-1).has_value());
  EXPECT_EQ(ggml_type_from_name("q5_1"), GgmlType::kQ5_1);
  EXPECT_FALSE(ggml_type_from_name("q4_K").has_value());
  EXPECT_EQ(ggml_block_bytes(GgmlType::kQ5_1), 24U);
  EXPECT_EQ(ggml_block_bytes(GgmlType::kQ8_0), 34U);
}

}  // namespace
}  // namespace amanuensis::model
