// The ARM64 int8 kernels, one per neon path (cpu_isa.h), over the shared packed weight layout
// (Int8Matrix: blocks of 16 channels x 4 values of k) and signed activations:
//
//   neon          smull + smlal + sadalp: two products summed in int16, then pairs into int32
//                 (int8_gemm_neon.cc)
//   neon_dotprod  sdot by element: 4 products per int32 lane, 4 rows x 16 channels per tile
//                 (int8_gemm_neon_dotprod.cc)
//   neon_i8mm     smmla: a 2 x 8 by 8 x 2 int8 product per instruction, 4 rows x 16 channels
//                 (int8_gemm_neon_i8mm.cc)
//
// Every kernel computes the exact int32 dot product (weights and activations lie in [-127, 127],
// so no step saturates), then scales it with one rounding, fma(float(dot), a_scale * w_scale,
// bias), the same on every ARM path (int8_detail::scale_dot): the tests check each bit for bit
// against that scalar form, and the integer dot products exactly against the generic path's.
// Block-mode weights (Int8Matrix::blocked) go through the same kernels one 32-column block at a
// time, each block's dot products scaled into float sums (int8_gemm.h), bit for bit as on every
// path.
#pragma once

#include <cstdint>

#include "kernels/int8_gemm_internal.h"

namespace amanuensis::kernels::int8_detail {

// The entry points, gemm_neon, gemm_neon_dotprod and gemm_neon_i8mm, are declared with the
// other paths' in int8_gemm_internal.h; they exist in aarch64 builds only.

// What a path's kernel provides: out[r * 16 + c] = sum_k a[r * lda + k] * w[channel c, k] for
// r < rows (<= its tile's rows) over one 16-channel panel (k4 groups of 64 bytes).
using AccumulateTile = void (*)(const std::int8_t* a, int lda, int rows, const std::int8_t* panel,
                                int k4, std::int32_t* out);

// The loops every neon path shares: for each 16-channel panel in [n0, n1), tiles of at most
// max_rows rows of [r0, r1) (as even as possible) through `accumulate`, then the scaling above.
void gemm_tiles(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                const float* bias, float* y, int ldy, int max_rows, AccumulateTile accumulate);

}  // namespace amanuensis::kernels::int8_detail
