// Launchers of the CUDA backend's own kernels (elementwise.cu, attention.cu, int8.cu). Each
// enqueues on `stream` and returns the launch's status; matrices are dense and row-major unless
// an ld argument says otherwise. Plain C++ declarations, so cuda_backend.cc needs no nvcc.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace amanuensis::backends::cuda {

// Precision of the half-width GEMM path.
enum class HalfType { kFloat16, kBFloat16 };

cudaError_t launch_layer_norm(float* x, const float* gamma, const float* beta, int rows, int cols,
                              float epsilon, cudaStream_t stream);
// Row r of each block of `block_rows` rows sees columns [0, r % block_rows + causal_offset]
// (all when causal_offset < 0); the rest become 0.
cudaError_t launch_softmax_rows(float* x, int rows, int cols, int block_rows, int causal_offset,
                                cudaStream_t stream);
cudaError_t launch_gelu(float* x, std::size_t n, cudaStream_t stream);
cudaError_t launch_add(const float* x, float* y, std::size_t n, cudaStream_t stream);
// y[r, c] = bias[c].
cudaError_t launch_bias_rows(const float* bias, float* y, int rows, int cols, cudaStream_t stream);
// y = x rounded to 16-bit floats of `type`.
cudaError_t launch_to_half(const float* x, void* y, std::size_t n, HalfType type,
                           cudaStream_t stream);

// Fused multi-head attention (flash-style: online softmax, no score matrix in memory):
// out_h = softmax(scale q_h k_h^T) v_h for every head h, causal as launch_softmax_rows with
// block_rows = rows. Head h of q and out is columns [h * head_dim, (h + 1) * head_dim); its keys
// start at k + h * k_head_stride with row stride ldk (head_dim for head-major caches, likewise
// v). head_dim <= kMaxHeadDim.
inline constexpr int kMaxHeadDim = 128;
cudaError_t launch_flash_attention(const float* q, int ldq, const float* k, int ldk,
                                   std::size_t k_head_stride, const float* v, int ldv,
                                   std::size_t v_head_stride, float* out, int ldo, int rows,
                                   int keys, int n_heads, int head_dim, float scale,
                                   int causal_offset, cudaStream_t stream);

// Int8 path, as src/kernels/int8_gemm.cc: rows quantised with scale max|x| / 127 (rounding half
// away from zero), int32 sums of products (dp4a), then y = sum * scale * w_scale + bias.
cudaError_t launch_quantize_rows(const float* x, int rows, int k, int padded_k, std::int8_t* q,
                                 float* scales, cudaStream_t stream);
// q [rows, padded_k], w [n, padded_k] row-major int8, padded_k a multiple of 4; bias may be null.
cudaError_t launch_int8_gemm(const std::int8_t* q, const float* scales, const std::int8_t* w,
                             const float* w_scales, const float* bias, int rows, int n,
                             int padded_k, float* y, cudaStream_t stream);

// cudaSuccess when the kernels in this build can run on the current device (an architecture
// they were compiled for, or PTX it can compile); cudaErrorNoKernelImageForDevice otherwise.
cudaError_t kernels_loadable();

}  // namespace amanuensis::backends::cuda
