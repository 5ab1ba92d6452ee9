// Int8 matrix products: weights quantised per output channel (row), activations per row, int32
// accumulation. Three kernels over one packed weight layout, chosen at run time:
// AVX-512 VNNI (vpdpbusd), AVX2 (vpmaddubsw with the sign trick) and portable C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu_isa.h"

namespace amanuensis::kernels {

// W[rows, cols] as int8 with one scale per row (w ~= q * scale[row]), packed in blocks of 16
// rows x 4 columns: packed[((row / 16) * (padded_cols / 4) + col / 4) * 64 + (row % 16) * 4
// + col % 4], so that one 64-byte load feeds 16 output channels with 4 products each.
struct Int8Matrix {
  int rows = 0;
  int cols = 0;
  int padded_rows = 0;  // rows rounded up to 16
  int padded_cols = 0;  // cols rounded up to 4
  std::vector<std::int8_t> packed;
  std::vector<float> scales;       // [padded_rows]
  std::vector<std::int32_t> sums;  // [padded_rows]: sum of each row's q

  [[nodiscard]] bool empty() const { return rows == 0; }
  [[nodiscard]] std::int8_t q(int row, int col) const {
    return packed[((static_cast<std::size_t>(row) / 16) * (padded_cols / 4) + col / 4) * 64 +
                  (row % 16) * 4 + col % 4];
  }
  // Writes the dequantised row into out[0, cols).
  void dequantize_row(int row, float* out) const;
  [[nodiscard]] std::size_t bytes() const {
    return packed.size() + scales.size() * sizeof(float) + sums.size() * sizeof(std::int32_t);
  }
};

// Quantises float weights [rows, cols] (row stride ld) symmetrically per row to [-127, 127].
Int8Matrix quantize_int8(const float* w, int rows, int cols, int ld);
// Packs weights already quantised per row (CTranslate2's int8: w = q / ct2_scale[row]).
Int8Matrix pack_int8(const std::int8_t* q, const float* ct2_scales, int rows, int cols);

// Activations quantised per row for int8_gemm: `data` [m, padded_cols] int8 (for the VNNI
// kernel stored with 128 added, as unsigned bytes), `scales` [m] (x ~= q * scale).
struct QuantizedRows {
  std::vector<std::int8_t> data;
  std::vector<float> scales;
  int rows = 0;
  int padded_cols = 0;
  bool biased = false;  // true when stored as q + 128 (unsigned) for VNNI
};

// Quantises x[m, k] (row stride ldx) for `isa`'s kernel, reusing `out`'s storage.
void quantize_rows(CpuIsa isa, const float* x, int m, int k, int ldx, int padded_cols,
                   QuantizedRows& out);

// y[r, n] = sum_k a[r, k] w[n, k] * a.scale[r] * w.scale[n] + bias[n] for rows r in [r0, r1)
// and columns n in [n0, min(n1, w.rows)); n0 and n1 multiples of 16. bias may be null.
void int8_gemm(CpuIsa isa, const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
               int n1, const float* bias, float* y, int ldy);

}  // namespace amanuensis::kernels
