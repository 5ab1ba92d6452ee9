// Fused float32 attention for one head and a block of query rows, written once with Highway and
// compiled for every x86 (SSE4 to AVX-512) and ARM instruction set; the best one the CPU runs is
// chosen on the first call (the same choice as vector_ops.h).
#pragma once

namespace amanuensis::kernels {

// out[r] = softmax(scale * q[r] k^T) v for r in [0, rows): q is [rows, head_dim] with row stride
// q_ld, k and v are [keys, head_dim] with strides k_ld and v_ld, out is [rows, head_dim] with
// stride out_ld (all in floats, so each may be one head's columns inside a wider matrix). With
// causal_offset >= 0, row r sees only keys [0, r + causal_offset] (keys beyond the last row's
// limit are never read); a negative causal_offset means every row sees every key.
//
// Flash attention: query rows are taken a panel at a time (3 vectors of rows, transposed and
// scaled into per-thread scratch), keys a tile at a time; scores are computed with query rows
// across the vector lanes, so K and V are read in place, softmax runs online (running maximum
// and sum per row, exp to about 1 ulp) and the result is exact softmax to float32 rounding.
// Scratch is per thread and only grows: no allocation once warm.
void flash_attention(const float* q, int q_ld, int rows, const float* k, int k_ld, const float* v,
                     int v_ld, int keys, int head_dim, float scale, int causal_offset, float* out,
                     int out_ld);

}  // namespace amanuensis::kernels
