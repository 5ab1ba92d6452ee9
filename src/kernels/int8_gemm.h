// Int8 matrix products: weights quantised per output channel (row), activations per row, int32
// accumulation. One packed weight layout, one kernel per path (cpu_isa.h), chosen at run time:
//
//   avx512    vpdpbusd zmm, 8 rows x 32 channels per tile          (int8_gemm_avx512.cc)
//   avx_vnni  {vex} vpdpbusd ymm, 6 rows x 16 channels             (int8_gemm_avx_vnni.cc)
//   avx2      vpmaddubsw + vpmaddwd + vpaddd, 5 x 16              (int8_gemm_avx2.cc)
//   generic   portable C++                                         (int8_gemm.cc)
//
// Every path computes the exact int32 dot product of the quantised values (no saturation), then
// scales it as fma(float(dot), a_scale * w_scale, bias) (int8_detail::scale_dot). The kernel
// tests check every path bit for bit against the scalar reference.
//
// Activations are quantised per row to [-127, 127] on every path but avx2, which takes [-63, 63].
// vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16 with saturation: with
// 8-bit activations stored unsigned with a zero point (q + 128, as the VNNI paths and oneDNN store
// them) a pair reaches 255 * 127 * 2 = 64770 and saturates (on Whisper base 0.03 % to 2.2 % of a
// layer's outputs came out wrong, and 9 of the 35 dev transcripts changed: bench/README.md). With
// 7-bit activations stored + 64, a pair stays within 127 * 128 * 2 = 32512 < 32767: exact, as
// oneDNN does on CPUs without VNNI (it gives up the bit on the weights instead). The exact 8-bit
// form the avx2 path had before (|a| times w xor sign(a), plus a per-row correction) needs a
// fourth vector instruction per 32 products, vpxor: on Intel, which issues vector instructions on
// three ports, that costs a quarter of the speed. Base's WER at avx2 (int8, beam 5) was 7.03 % on
// the dev set and 5.01 % on the long file with 8-bit activations, and is 7.03 % and 4.31 % with
// 7-bit ones (bench/README.md, round 9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu_isa.h"

namespace amanuensis::kernels {

// Columns per block of a block-mode Int8Matrix (ggml's block size).
inline constexpr int kInt8BlockColumns = 32;

// W[rows, cols] as int8 with one scale per row (w ~= q * scale[row]), packed in blocks of 16
// rows x 4 columns: packed[((row / 16) * (padded_cols / 4) + col / 4) * 64 + (row % 16) * 4
// + col % 4], so that one 64-byte load feeds 16 output channels with 4 products each, and the
// 16-channel panel a kernel tile reads is contiguous along k.
struct Int8Matrix {
  int rows = 0;
  int cols = 0;
  int padded_rows = 0;  // rows rounded up to 16
  int padded_cols = 0;  // cols rounded up to 4
  std::vector<std::int8_t> packed;
  std::vector<float> scales;       // [padded_rows]
  std::vector<std::int32_t> sums;  // [padded_rows]: sum of each row's q
  // Block mode (ggml's q8_0, q5_0 and q4_0 as stored): a scale per 32 columns of each row,
  // w ~= q * block_scales[...], and scales all 1. Both vectors are laid out as the panels are,
  // [padded_rows / 16][padded_cols / 32][16] (the 16 channels of a panel for one column block
  // side by side); block_sums holds each block's sum of q. Empty for per-row matrices.
  std::vector<float> block_scales;
  std::vector<std::int32_t> block_sums;

  [[nodiscard]] bool empty() const { return rows == 0; }
  [[nodiscard]] bool blocked() const { return !block_scales.empty(); }
  [[nodiscard]] int column_blocks() const { return padded_cols / kInt8BlockColumns; }
  // The scale of q(row, col): the row's, or in block mode its block's.
  [[nodiscard]] float scale(int row, int col) const {
    if (!blocked()) return scales[row];
    return block_scales[(static_cast<std::size_t>(row / 16) * column_blocks() +
                         col / kInt8BlockColumns) *
                            16 +
                        row % 16];
  }
  [[nodiscard]] std::int8_t q(int row, int col) const {
    return packed[((static_cast<std::size_t>(row) / 16) * (padded_cols / 4) + col / 4) * 64 +
                  (row % 16) * 4 + col % 4];
  }
  // Writes the dequantised row into out[0, cols).
  void dequantize_row(int row, float* out) const;
  [[nodiscard]] std::size_t bytes() const {
    return packed.size() + (scales.size() + block_scales.size()) * sizeof(float) +
           (sums.size() + block_sums.size()) * sizeof(std::int32_t);
  }
};

// Quantises float weights [rows, cols] (row stride ld) symmetrically per row to [-127, 127].
Int8Matrix quantize_int8(const float* w, int rows, int cols, int ld);
// Packs weights already quantised per row (CTranslate2's int8: w = q / ct2_scale[row]).
Int8Matrix pack_int8(const std::int8_t* q, const float* ct2_scales, int rows, int cols);

// Packs weights quantised in blocks of 32 columns (cols a multiple of 32): q [rows, cols] in
// [-127, 127], block_scales [rows, cols / 32] (w = q * block_scale). The int8 kernels then scale
// each block's exact dot product on its own: no second rounding of the weights.
Int8Matrix pack_int8_blocks(const std::int8_t* q, const float* block_scales, int rows, int cols);
// The same weights quantised per row: for consumers that take only per-row scales (the OpenCL
// and CUDA backends). A per-row matrix comes back as it is.
Int8Matrix per_row_int8(const Int8Matrix& w);

// How a path's kernel wants the quantised activations stored.
enum class ActivationForm {
  kSigned,   // q in [-127, 127] (generic)
  kBiased,   // q + 128 as unsigned bytes, q in [-127, 127] (VNNI: vpdpbusd takes u8 x s8)
  kBiased7,  // q + 64 as unsigned bytes, q in [-63, 63] (AVX2, see above)
};
ActivationForm activation_form(CpuIsa isa);

// Activations quantised per row for int8_gemm: `data` [m, padded_cols] in the path's form,
// `scales` [m] (x ~= q * scale).
struct QuantizedRows {
  std::vector<std::int8_t> data;
  std::vector<float> scales;
  int rows = 0;
  int padded_cols = 0;
  ActivationForm form = ActivationForm::kSigned;

  // The quantised value q at (row, col), whatever the form.
  [[nodiscard]] int value(int row, int col) const;
};

// Quantises x[m, k] (row stride ldx) for `isa`'s kernel and the weights `w` it will multiply
// (their padded width), reusing `out`'s storage.
void quantize_rows(CpuIsa isa, const float* x, int m, int k, int ldx, const Int8Matrix& w,
                   QuantizedRows& out);
// The same in parts, for threads to share: sizes `out` for m rows, then rows [r0, r1) of x
// (each row is quantised on its own, so any split gives the same bytes).
void quantize_rows_prepare(CpuIsa isa, int m, const Int8Matrix& w, QuantizedRows& out);
void quantize_row_range(const float* x, int r0, int r1, int k, int ldx, QuantizedRows& out);

// y[r, n] = fma(sum_k q_a[r, k] q_w[n, k], a.scale[r] * w.scale[n], bias[n]);
// for block-mode w, y[r, n] = fma(s, a.scale[r], bias[n]) with s accumulated over the column
// blocks b in order as s = fma(float(dot_b), block_scale[n, b], s) from 0 (int8_detail::
// add_scaled_block and finish_blocks), the same on every path;
// for rows r in [r0, r1) and columns n in [n0, min(n1, w.rows)); n0 and n1 multiples of 16;
// bias may be null (0). `isa` picks the kernel; `a` must come from quantize_rows for the same isa
// (else the portable kernel runs).
void int8_gemm(CpuIsa isa, const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
               int n1, const float* bias, float* y, int ldy);

}  // namespace amanuensis::kernels
