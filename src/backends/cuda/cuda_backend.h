// The CUDA backend: cuBLAS for the dense products (float32, or float16/bfloat16 inputs with
// float32 sums), our kernels for the rest (elementwise.cu), a fused flash-style attention
// (attention.cu) and a dp4a int8 path (int8.cu). Weights are uploaded once and cached. Each
// calling thread gets its own stream, cuBLAS handle and scratch ("lane"), so that concurrent
// requests (the server's workers) run on the GPU side by side instead of taking turns.
#pragma once

#include <memory>

#include "backends/cuda/cuda_kernels.h"
#include "kernels/backend.h"

namespace amanuensis::backends::cuda {

enum class GemmPrecision { kFloat32, kFloat16, kBFloat16 };

// GemmPrecision for a ModelOptions::compute_type: float16 and int8_float16 use float16 GEMMs,
// bfloat16 and int8_bfloat16 bfloat16 ones, everything else (default included) float32, so that
// the default transcripts match the CPU's.
GemmPrecision precision_for(const std::string& compute_type);

// Throws DeviceError when device `device` cannot be used.
std::unique_ptr<kernels::Backend> make_cuda_backend(int device, GemmPrecision precision);

}  // namespace amanuensis::backends::cuda
