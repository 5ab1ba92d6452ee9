// The neon_dotprod path (FEAT_DotProd: Cortex-A55/A76 and later, Neoverse N1 and later, Apple
// M1 and later): sdot adds four int8 products into each int32 lane.
//
// A packed group (16 channels x 4 values of k, 64 bytes) is four vectors whose lanes are the
// channels, so sdot by element, with the 4 activations of the group in one lane of a vector,
// adds one group's products to 4 channels at a time; one 16-byte load of a row serves 4 groups.
// Tile: 4 rows x 16 channels, 16 accumulators + 4 rows of activations + 4 weight vectors = 24
// of the 32 vector registers.
#include "kernels/int8_gemm_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstddef>
#include <cstring>

namespace amanuensis::kernels::int8_detail {

namespace {

// Only these functions may use sdot: the rest of the program runs on CPUs without it.
#define AMANUENSIS_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

constexpr int kTileRows = 4;

// One group of 4 values of k (at wp) for every row; the activations of the group are lane kLane
// of x[r]. The lane must be a constant, hence the template.
template <int kLane, int MR>
AMANUENSIS_DOTPROD inline void group(int32x4_t (&acc)[MR][4], const int8x16_t (&x)[MR],
                                     const std::int8_t* wp) {
  int8x16_t wv[4];
  for (int j = 0; j < 4; ++j) wv[j] = vld1q_s8(wp + 16 * j);
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < 4; ++j) acc[r][j] = vdotq_laneq_s32(acc[r][j], wv[j], x[r], kLane);
  }
}

template <int MR>
AMANUENSIS_DOTPROD void accumulate_dotprod(const std::int8_t* a, int lda, const std::int8_t* panel,
                                           int k4, std::int32_t* out) {
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < 4; ++j) acc[r][j] = vdupq_n_s32(0);
  }
  int kk = 0;
  for (; kk + 4 <= k4; kk += 4) {
    int8x16_t x[MR];
    for (int r = 0; r < MR; ++r) x[r] = vld1q_s8(a + static_cast<std::ptrdiff_t>(r) * lda + kk * 4);
    const std::int8_t* wp = panel + static_cast<std::size_t>(kk) * 64;
    group<0>(acc, x, wp);
    group<1>(acc, x, wp + 64);
    group<2>(acc, x, wp + 128);
    group<3>(acc, x, wp + 192);
  }
  for (; kk < k4; ++kk) {  // the last 1 to 3 groups: the 4 activations of one group broadcast
    int8x16_t x[MR];
    for (int r = 0; r < MR; ++r) {
      std::int32_t v;
      std::memcpy(&v, a + static_cast<std::ptrdiff_t>(r) * lda + kk * 4, 4);
      x[r] = vreinterpretq_s8_s32(vdupq_n_s32(v));
    }
    group<0>(acc, x, panel + static_cast<std::size_t>(kk) * 64);
  }
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < 4; ++j) vst1q_s32(out + r * 16 + 4 * j, acc[r][j]);
  }
}

void accumulate_dotprod_tile(const std::int8_t* a, int lda, int rows, const std::int8_t* panel,
                             int k4, std::int32_t* out) {
  switch (rows) {
    case 1:
      return accumulate_dotprod<1>(a, lda, panel, k4, out);
    case 2:
      return accumulate_dotprod<2>(a, lda, panel, k4, out);
    case 3:
      return accumulate_dotprod<3>(a, lda, panel, k4, out);
    default:
      return accumulate_dotprod<kTileRows>(a, lda, panel, k4, out);
  }
}

}  // namespace

void gemm_neon_dotprod(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                       const float* bias, float* y, int ldy) {
  gemm_tiles(a, r0, r1, w, n0, n1, bias, y, ldy, kTileRows, accumulate_dotprod_tile);
}

}  // namespace amanuensis::kernels::int8_detail

#endif  // __aarch64__
