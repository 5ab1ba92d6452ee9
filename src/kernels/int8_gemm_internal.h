// Shared by the int8 kernels of each path (int8_gemm*.cc); not part of the kernels' interface.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/int8_gemm.h"

namespace amanuensis::kernels::int8_detail {

// What a form stores for an activation q in [-max_level, max_level]: q + zero_point, modulo 256
// (a zero point of 0 keeps q signed).
constexpr int zero_point(ActivationForm form) {
  switch (form) {
    case ActivationForm::kBiased:
      return 128;
    case ActivationForm::kBiased7:
      return 64;
    default:
      return 0;
  }
}
constexpr int max_level(ActivationForm form) { return form == ActivationForm::kBiased7 ? 63 : 127; }
// The value q of a stored activation byte.
constexpr int stored_value(ActivationForm form, std::int8_t stored) {
  const int zero = zero_point(form);
  return zero == 0 ? stored : static_cast<int>(static_cast<std::uint8_t>(stored)) - zero;
}

// The scaling of the exact int32 dot product (int8_gemm.h), fma(dot, a_scale * w_scale, bias):
// the portable kernel and the tests use it, the vector kernels do the same lane by lane.
inline float scale_dot(std::int32_t dot, float a_scale, float w_scale, float bias) {
  return std::fma(static_cast<float>(dot), a_scale * w_scale, bias);
}

// Block-mode weights (int8_gemm.h): each column block's exact dot product is scaled on its own
// and summed in float, in block order; then the row's activation scale and the bias. Every path
// does exactly these roundings, lane by lane.
inline float add_scaled_block(std::int32_t dot, float block_scale, float sum) {
  return std::fma(static_cast<float>(dot), block_scale, sum);
}
inline float finish_blocks(float sum, float a_scale, float bias) {
  return std::fma(sum, a_scale, bias);
}

// Calls tile(r, rows) over [r0, r1) in tiles of at most max_rows rows, as even as possible: 96
// rows in tiles of at most 5 are 16 of 5 and 4 of 4, not 19 of 5 and one of 1 (which would run
// at a fraction of the speed).
template <typename Tile>
void for_each_row_tile(int r0, int r1, int max_rows, const Tile& tile) {
  const int rows = r1 - r0;
  if (rows <= 0) return;
  const int tiles = (rows + max_rows - 1) / max_rows;
  const int base = rows / tiles;
  const int longer = rows % tiles;  // this many tiles get base + 1 rows
  for (int t = 0, r = r0; t < tiles; ++t) {
    const int mr = base + (t < longer ? 1 : 0);
    tile(r, mr);
    r += mr;
  }
}

// Software prefetch of the next weight panel pays only for matrices that stream from memory on
// every call (the logits, 26.5 MB for Whisper base): there it hides the latency the hardware
// prefetcher leaves; on a matrix that stays in L2 between calls (a 512 x 512 layer at one row)
// the extra instructions cost up to 30 % (int8_gemm_bench, avx512).
constexpr std::size_t kStreamedWeightBytes = std::size_t{8} << 20;

inline bool streams_weights(const Int8Matrix& w) { return w.packed.size() > kStreamedWeightBytes; }

// Per-path entry points, same contract as int8_gemm; each exists only where its file is built
// (the avx ones on x86-64, the neon ones on ARM64) and runs only where cpu_supports says so.
using GemmFn = void (*)(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                        const float* bias, float* y, int ldy);
void gemm_avx2(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy);
void gemm_avx_vnni(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                   const float* bias, float* y, int ldy);
// The avx_vnni kernel compiled with the EVEX encoding of the same 256-bit vpdpbusd (AVX-512 VNNI
// + VL): what the tests and the benchmark run on CPUs that have AVX-512 but not AVX-VNNI (Zen 4),
// to check the kernel's logic where its own encoding would fault.
void gemm_avx_vnni_evex(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                        const float* bias, float* y, int ldy);
void gemm_avx512(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                 const float* bias, float* y, int ldy);
// ARM64, signed activations (int8_gemm_neon.h).
void gemm_neon(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy);
void gemm_neon_dotprod(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                       const float* bias, float* y, int ldy);
void gemm_neon_i8mm(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                    const float* bias, float* y, int ldy);

// Writes y[r, n + c] for r < mr, c < valid (<= 16) from acc[mr][16] (int32, row-major) with
//   dot = acc[r][c] - (offsets.cols[c] << offsets.col_shift)
// (the activations' zero point times each channel's sum of w), scaled as scale_dot(dot,
// a_scales[r], w_scales[c], bias[c]) (bias null: 0). AVX2 + FMA; the 256-bit kernels' epilogue,
// run once per tile.
struct TileOffsets {
  const std::int32_t* cols = nullptr;
  int col_shift = 0;
};
void store_tile_ymm(const std::int32_t* acc, int mr, int valid, const float* a_scales,
                    TileOffsets offsets, const float* w_scales, const float* bias, float* y,
                    int ldy);

// Block mode's x86 epilogue (AVX2 + FMA), after a tile's float sums over every column block
// (sums[r * 16 + c], r < mr): y[r, c] = finish_blocks(sums[r * 16 + c], a_scales[r], bias[c])
// for c < valid (bias null: 0).
void store_blocks_ymm(const float* sums, int mr, int valid, const float* a_scales,
                      const float* bias, float* y, int ldy);

// Block mode's loop for the 256-bit kernels: for each 16-channel panel in [n0, n1) and each tile
// of at most max_rows (<= 8) rows in [r0, r1), accumulate(panel, r, mr, sums) leaves the tile's
// float sums over every column block in sums[r * 16 + c]; store_blocks_ymm writes them out.
template <typename Accumulate>
void for_each_block_tile(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
                         int n1, int max_rows, const float* bias, float* y, int ldy,
                         const Accumulate& accumulate) {
  const int panel_end = std::min(n1, w.padded_rows) / 16;
  alignas(32) float sums[8 * 16];
  for (int panel = n0 / 16; panel < panel_end; ++panel) {
    const int n = panel * 16;
    for_each_row_tile(r0, r1, max_rows, [&](int r, int mr) {
      accumulate(panel, r, mr, sums);
      store_blocks_ymm(sums, mr, std::min(16, w.rows - n), a.scales.data() + r,
                       bias == nullptr ? nullptr : bias + n,
                       y + static_cast<std::ptrdiff_t>(r) * ldy + n, ldy);
    });
  }
}

}  // namespace amanuensis::kernels::int8_detail
