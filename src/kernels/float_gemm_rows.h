// float32 products with few rows (decoding: one row per beam and request), written once with
// Highway for every instruction set, as vector_ops.h.
//
// OpenBLAS packs both operands of every sgemm call. With a few rows against a weight matrix that
// is read once per call (a decoder step), packing the weights doubles the bytes moved: on base,
// beam 5, float32, sgemm's copy of the weights was 18 % of a transcription's time
// (bench/README.md). This kernel reads each weight row straight from the matrix, once per call,
// and multiplies it with every row of x while it is in L1.
//
// Each output is the dot product of its own row of x and row of w, summed lane by lane in k order
// and then across lanes: it does not depend on m, on the other rows or columns, or on how a
// caller splits the columns. (The result differs from OpenBLAS's in the last bits, and between
// instruction sets with different vector widths.)
#pragma once

namespace amanuensis::kernels {

// The most rows linear_few_rows is meant for; more take OpenBLAS, whose packing then pays.
inline constexpr int kFewRows = 16;

// y[r, c] = bias[c] + sum_k x[r, k] w[c, k], r < m, c < n (bias null: 0); x [m, k] with row
// stride ldx, w [n, k] with row stride ldw, y with row stride ldy.
void linear_few_rows(const float* x, int m, int ldx, const float* w, int n, int ldw, int k,
                     const float* bias, float* y, int ldy);

}  // namespace amanuensis::kernels
