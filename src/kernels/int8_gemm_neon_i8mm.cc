// The neon_i8mm path (FEAT_I8MM: Neoverse V1/N2/V2 and later, Cortex-A510/A710 and later, Apple
// M2 and later): smmla multiplies a 2 x 8 int8 matrix by an 8 x 2 one into 2 x 2 int32, 32
// multiply-adds per instruction where sdot does 16.
//
// smmla wants each operand as 2 rows of 8 consecutive values of k: two activation rows, or two
// channels. The shared packed layout (Int8Matrix) keeps 4 values of k per channel in a group, so
// two consecutive groups are zipped 32 bits at a time (zip1/zip2: channels 4j, 4j+1 and 4j+2,
// 4j+3, each with 8 values of k); each zipped operand then serves every row pair of the tile.
// Packing the weights this way at load time would save the zips, at the cost of a second layout.
// Tile: 4 rows (2 pairs) x 16 channels: 16 accumulators, each [r0 c0, r0 c1, r1 c0, r1 c1].
#include "kernels/int8_gemm_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace amanuensis::kernels::int8_detail {

namespace {

// Only these functions may use smmla: the rest of the program runs on CPUs without it.
#define AMANUENSIS_I8MM __attribute__((target("arch=armv8.2-a+i8mm")))

constexpr int kPairs = 2;

// acc[p][2j] += rows (2p, 2p+1) x channels (4j, 4j+1), acc[p][2j+1] the same with channels
// (4j+2, 4j+3), for one pair of weight groups (c0 | c1: 4 values of k each) and the
// activations x[p] of the same 8 values of k.
template <int P>
AMANUENSIS_I8MM inline void multiply(int32x4_t (&acc)[P][8], const int8x16_t (&x)[P],
                                     const std::int8_t* group0, const std::int8_t* group1) {
  for (int j = 0; j < 4; ++j) {
    const int32x4_t c0 = vreinterpretq_s32_s8(vld1q_s8(group0 + 16 * j));
    const int32x4_t c1 =
        group1 != nullptr ? vreinterpretq_s32_s8(vld1q_s8(group1 + 16 * j)) : vdupq_n_s32(0);
    const int8x16_t lo = vreinterpretq_s8_s32(vzip1q_s32(c0, c1));
    const int8x16_t hi = vreinterpretq_s8_s32(vzip2q_s32(c0, c1));
    for (int p = 0; p < P; ++p) {
      acc[p][2 * j] = vmmlaq_s32(acc[p][2 * j], x[p], lo);
      acc[p][2 * j + 1] = vmmlaq_s32(acc[p][2 * j + 1], x[p], hi);
    }
  }
}

// rows <= 2P; a missing last row of a pair repeats the one before (its sums are dropped).
template <int P>
AMANUENSIS_I8MM void accumulate_i8mm(const std::int8_t* a, int lda, int rows,
                                     const std::int8_t* panel, int k4, std::int32_t* out) {
  const std::int8_t* row[2 * P];
  for (int i = 0; i < 2 * P; ++i)
    row[i] = a + static_cast<std::ptrdiff_t>(std::min(i, rows - 1)) * lda;
  int32x4_t acc[P][8];
  for (int p = 0; p < P; ++p) {
    for (int h = 0; h < 8; ++h) acc[p][h] = vdupq_n_s32(0);
  }
  int kk = 0;
  for (; kk + 2 <= k4; kk += 2) {
    int8x16_t x[P];
    for (int p = 0; p < P; ++p)
      x[p] = vcombine_s8(vld1_s8(row[2 * p] + kk * 4), vld1_s8(row[2 * p + 1] + kk * 4));
    const std::int8_t* wp = panel + static_cast<std::size_t>(kk) * 64;
    multiply(acc, x, wp, wp + 64);
  }
  if (kk < k4) {  // an odd last group: its weights zipped with zeros, so the activations' second
                  // half (a copy of the first, read within the row) adds nothing
    int8x16_t x[P];
    for (int p = 0; p < P; ++p) {
      std::int32_t v0, v1;
      std::memcpy(&v0, row[2 * p] + kk * 4, 4);
      std::memcpy(&v1, row[2 * p + 1] + kk * 4, 4);
      x[p] = vreinterpretq_s8_s32(vcombine_s32(vdup_n_s32(v0), vdup_n_s32(v1)));
    }
    multiply(acc, x, panel + static_cast<std::size_t>(kk) * 64, nullptr);
  }
  for (int p = 0; p < P; ++p) {
    for (int j = 0; j < 4; ++j) {
      // [r0 c0, r0 c1, r1 c0, r1 c1] and [r0 c2, r0 c3, r1 c2, r1 c3] -> one row's 4 channels.
      const int64x2_t lo = vreinterpretq_s64_s32(acc[p][2 * j]);
      const int64x2_t hi = vreinterpretq_s64_s32(acc[p][2 * j + 1]);
      vst1q_s32(out + (2 * p) * 16 + 4 * j, vreinterpretq_s32_s64(vzip1q_s64(lo, hi)));
      if (2 * p + 1 < rows) {
        vst1q_s32(out + (2 * p + 1) * 16 + 4 * j, vreinterpretq_s32_s64(vzip2q_s64(lo, hi)));
      }
    }
  }
}

void accumulate_i8mm_tile(const std::int8_t* a, int lda, int rows, const std::int8_t* panel, int k4,
                          std::int32_t* out) {
  if (rows <= 2) return accumulate_i8mm<1>(a, lda, rows, panel, k4, out);
  accumulate_i8mm<kPairs>(a, lda, rows, panel, k4, out);
}

}  // namespace

void gemm_neon_i8mm(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                    const float* bias, float* y, int ldy) {
  gemm_tiles(a, r0, r1, w, n0, n1, bias, y, ldy, 2 * kPairs, accumulate_i8mm_tile);
}

}  // namespace amanuensis::kernels::int8_detail

#endif  // __aarch64__
