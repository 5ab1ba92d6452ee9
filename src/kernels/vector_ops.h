// Element-wise and row-wise float32 kernels, written once with Highway and compiled for every
// x86 (SSE4 to AVX-512) and ARM instruction set; the best one the CPU runs is chosen once, on
// the first call. Each has a plain-C++ reference in tests/unit/kernels_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu_isa.h"

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
// q[i] = round(x[i] * inverse) + zero (modulo 256: a zero point of 128 or 64 stores the value
// unsigned), rounding halves to even (as CTranslate2 rounds); the products must lie within
// [-127, 127].
void quantize_row(const float* x, std::size_t n, float inverse, std::uint8_t zero, std::int8_t* q);
// max x[i] (-inf for n == 0).
float max_value(const float* x, std::size_t n);
// sum of exp(x[i] - shift) (exp in float, accurate to about 1 ulp; -inf terms add 0), in double.
double sum_exp(const float* x, std::size_t n, float shift);
// The first i in [from, n) with x[i] >= threshold, or n: a vocabulary scanned for the few
// logits that can still enter a beam's best candidates.
std::size_t find_at_least(const float* x, std::size_t from, std::size_t n, float threshold);
// The name of the instruction set these kernels run with, e.g. "AVX3" or "AVX2".
const char* vector_ops_target();

// Caps the instruction set of these kernels and of flash_attention at what the int8 path `isa`
// implies: avx512 none, avx2 and avx_vnni AVX2 (Highway has no AVX-VNNI target), generic SSE4
// on x86 (the build's baseline elsewhere); so that a forced AMANUENSIS_CPU_ISA behaves like a CPU
// that has no more. Process-wide, idempotent; the CPU backend calls it with cpu_isa().
void vector_ops_limit_to(CpuIsa isa);

// For tests: every instruction set this build holds that the CPU runs, and a switch to one of
// them (0 returns to the best).
std::vector<std::int64_t> vector_ops_available_targets();
void vector_ops_force_target(std::int64_t target);
// The names of instruction sets this build holds that this CPU cannot run (tests skip them).
std::vector<std::string> vector_ops_unsupported_targets();

}  // namespace amanuensis::kernels
