// The neon path (Advanced SIMD, every AArch64 CPU) and the loops and scaling the three neon
// paths share (int8_gemm_neon.h).
//
// Without sdot, int8 products go through smull (8 products into int16) and sadalp (pairs of
// int16 added into int32). Two products fit in int16 when both sides lie in [-127, 127]:
// 2 x 127 x 127 = 32258 <= 32767. So smull + smlal multiply two groups of 4 values of k at once,
// and sadalp folds them into the int32 accumulators: 16 multiply-adds per 3 instructions, exact.
#include "kernels/int8_gemm_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace amanuensis::kernels::int8_detail {

namespace {

constexpr int kPanel = 16;       // channels per packed block
constexpr int kMaxTileRows = 8;  // the most rows any neon kernel's tile has

// y[c] = fma(float(dot[c]), a_scale * w_scales[c], bias16[c]) for c < valid (<= 16).
void store_row(const std::int32_t* dot, float a_scale, const float* w_scales, const float* bias16,
               int valid, float* y) {
  alignas(16) float out[kPanel];
  float* dst = valid == kPanel ? y : out;
  for (int q = 0; q < kPanel / 4; ++q) {
    const float32x4_t scale = vmulq_n_f32(vld1q_f32(w_scales + 4 * q), a_scale);
    const float32x4_t dots = vcvtq_f32_s32(vld1q_s32(dot + 4 * q));
    vst1q_f32(dst + 4 * q, vfmaq_f32(vld1q_f32(bias16 + 4 * q), dots, scale));
  }
  if (dst == out) std::copy_n(out, valid, y);
}

// The 4 bytes at p in every 32-bit lane.
inline int8x16_t broadcast4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// acc[r][2j] holds channels 4j and 4j+1, acc[r][2j+1] channels 4j+2 and 4j+3, each as two int32
// partial sums (sadalp adds neighbouring int16 lanes); pairwise additions finish them.
template <int MR>
void accumulate_neon(const std::int8_t* a, int lda, const std::int8_t* panel, int k4,
                     std::int32_t* out) {
  int32x4_t acc[MR][8];
  for (int r = 0; r < MR; ++r) {
    for (int h = 0; h < 8; ++h) acc[r][h] = vdupq_n_s32(0);
  }
  int kk = 0;
  for (; kk + 2 <= k4; kk += 2) {
    const std::int8_t* wp = panel + static_cast<std::size_t>(kk) * 64;
    int8x16_t w0[4], w1[4];
    for (int j = 0; j < 4; ++j) {
      w0[j] = vld1q_s8(wp + 16 * j);
      w1[j] = vld1q_s8(wp + 64 + 16 * j);
    }
    for (int r = 0; r < MR; ++r) {
      const std::int8_t* ar = a + static_cast<std::ptrdiff_t>(r) * lda + kk * 4;
      const int8x16_t x0 = broadcast4(ar);
      const int8x16_t x1 = broadcast4(ar + 4);
      for (int j = 0; j < 4; ++j) {
        const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(w0[j]), vget_low_s8(x0)),
                                      vget_low_s8(w1[j]), vget_low_s8(x1));
        const int16x8_t hi = vmlal_high_s8(vmull_high_s8(w0[j], x0), w1[j], x1);
        acc[r][2 * j] = vpadalq_s16(acc[r][2 * j], lo);
        acc[r][2 * j + 1] = vpadalq_s16(acc[r][2 * j + 1], hi);
      }
    }
  }
  if (kk < k4) {  // an odd group of 4 values of k
    const std::int8_t* wp = panel + static_cast<std::size_t>(kk) * 64;
    for (int r = 0; r < MR; ++r) {
      const int8x16_t x = broadcast4(a + static_cast<std::ptrdiff_t>(r) * lda + kk * 4);
      for (int j = 0; j < 4; ++j) {
        const int8x16_t wv = vld1q_s8(wp + 16 * j);
        acc[r][2 * j] = vpadalq_s16(acc[r][2 * j], vmull_s8(vget_low_s8(wv), vget_low_s8(x)));
        acc[r][2 * j + 1] = vpadalq_s16(acc[r][2 * j + 1], vmull_high_s8(wv, x));
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < 4; ++q) {
      vst1q_s32(out + r * kPanel + 4 * q, vpaddq_s32(acc[r][2 * q], acc[r][2 * q + 1]));
    }
  }
}

// Two rows per tile: 16 accumulators, the 8 weight vectors of two groups and the broadcasts
// fill the 32 vector registers.
void accumulate_neon_tile(const std::int8_t* a, int lda, int rows, const std::int8_t* panel, int k4,
                          std::int32_t* out) {
  if (rows == 1) return accumulate_neon<1>(a, lda, panel, k4, out);
  accumulate_neon<2>(a, lda, panel, k4, out);
}

// Block mode (Int8Matrix::blocked): the tile's exact dot products one 32-column block at a time
// through `accumulate`, each scaled by its block's scales into float sums (add_scaled_block, lane
// by lane: fma(float(dot), block_scale, sum)), then y = fma(sum, a_scale, bias) (finish_blocks).
// `scales`: the panel's block scales, [blocks][16].
void block_tile(const std::int8_t* a, int lda, int mr, const std::int8_t* panel,
                const float* scales, int blocks, AccumulateTile accumulate, const float* a_scales,
                const float* bias16, int valid, float* y, int ldy) {
  constexpr int kGroups = kInt8BlockColumns / 4;  // groups of 4 values of k per block
  alignas(16) std::int32_t dots[kMaxTileRows * kPanel];
  float32x4_t sums[kMaxTileRows][kPanel / 4];
  for (int i = 0; i < mr; ++i) {
    for (int q = 0; q < kPanel / 4; ++q) sums[i][q] = vdupq_n_f32(0.0F);
  }
  for (int b = 0; b < blocks; ++b) {
    accumulate(a + static_cast<std::ptrdiff_t>(b) * kInt8BlockColumns, lda, mr,
               panel + static_cast<std::size_t>(b) * kGroups * 64, kGroups, dots);
    const float* s = scales + static_cast<std::size_t>(b) * kPanel;
    for (int i = 0; i < mr; ++i) {
      for (int q = 0; q < kPanel / 4; ++q) {
        const float32x4_t dot = vcvtq_f32_s32(vld1q_s32(dots + i * kPanel + 4 * q));
        sums[i][q] = vfmaq_f32(sums[i][q], dot, vld1q_f32(s + 4 * q));
      }
    }
  }
  for (int i = 0; i < mr; ++i) {
    alignas(16) float out[kPanel];
    float* row = y + static_cast<std::ptrdiff_t>(i) * ldy;
    float* dst = valid == kPanel ? row : out;
    for (int q = 0; q < kPanel / 4; ++q) {
      vst1q_f32(dst + 4 * q, vfmaq_n_f32(vld1q_f32(bias16 + 4 * q), sums[i][q], a_scales[i]));
    }
    if (dst == out) std::copy_n(out, valid, row);
  }
}

}  // namespace

void gemm_tiles(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                const float* bias, float* y, int ldy, int max_rows, AccumulateTile accumulate) {
  max_rows = std::clamp(max_rows, 1, kMaxTileRows);
  const int k4 = w.padded_cols / 4;
  const std::size_t panel_bytes = static_cast<std::size_t>(k4) * 64;
  const int panel_end = std::min(n1, w.padded_rows) / kPanel;
  alignas(16) std::int32_t dots[kMaxTileRows * kPanel];
  for (int index = n0 / kPanel; index < panel_end; ++index) {
    const int n = index * kPanel;
    const int valid = std::min(kPanel, w.rows - n);
    if (valid <= 0) break;
    // The bias of this panel's channels, zero past the last one, so that whole vectors load.
    alignas(16) float bias16[kPanel] = {};
    if (bias != nullptr) std::copy_n(bias + n, valid, bias16);
    const std::int8_t* panel = w.packed.data() + static_cast<std::size_t>(index) * panel_bytes;
    for_each_row_tile(r0, r1, max_rows, [&](int r, int mr) {
      const std::size_t row = static_cast<std::size_t>(r) * a.padded_cols;
      if (w.blocked()) {
        const int blocks = w.column_blocks();
        block_tile(a.data.data() + row, a.padded_cols, mr, panel,
                   w.block_scales.data() + static_cast<std::size_t>(index) * blocks * kPanel,
                   blocks, accumulate, a.scales.data() + r, bias16, valid,
                   y + static_cast<std::size_t>(r) * ldy + n, ldy);
        return;
      }
      accumulate(a.data.data() + row, a.padded_cols, mr, panel, k4, dots);
      for (int i = 0; i < mr; ++i) {
        store_row(dots + i * kPanel, a.scales[r + i], w.scales.data() + n, bias16, valid,
                  y + static_cast<std::size_t>(r + i) * ldy + n);
      }
    });
  }
}

void gemm_neon(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy) {
  gemm_tiles(a, r0, r1, w, n0, n1, bias, y, ldy, 2, accumulate_neon_tile);
}

}  // namespace amanuensis::kernels::int8_detail

#endif  // __aarch64__
