// Element-wise and row-wise float32 kernels, written once with Highway and compiled for every
// x86 (SSE4 to AVX-512) and ARM instruction set; the best one the CPU runs is chosen once, on
// the first call. Each has a plain-C++ reference in tests/unit/kernels_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace amanuensis::kernels {

// Softmax of row[0, visible) in place; row[visible, cols) becomes 0.
void softmax_row(float* row, int visible, int cols);
// x = 0.5 x (1 + erf(x / sqrt 2)): exact GELU with a rational erf (a few float ulps).
void gelu(float* x, std::size_t n);
// Normalises one row to zero mean and unit variance, then scales by gamma and shifts by beta.
void layer_norm_row(float* row, const float* gamma, const float* beta, int n, float epsilon);
// y += x.
void add(const float* x, float* y, std::size_t n);
// max |x[i]| (0 for n == 0).
float max_abs(const float* x, std::size_t n);
// The name of the instruction set these kernels run with, e.g. "AVX3" or "AVX2".
const char* vector_ops_target();

// For tests: every instruction set this build holds that the CPU runs, and a switch to one of
// them (0 returns to the best).
std::vector<std::int64_t> vector_ops_available_targets();
void vector_ops_force_target(std::int64_t target);

}  // namespace amanuensis::kernels
