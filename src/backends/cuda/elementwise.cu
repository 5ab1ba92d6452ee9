// Row and element kernels of the CUDA backend: layer norm, softmax, GELU, add, bias rows and the
// conversion to 16-bit floats. The math follows src/kernels/vector_ops.cc.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "backends/cuda/cuda_kernels.h"

namespace amanuensis::backends::cuda {

namespace {

constexpr int kRowThreads = 256;
constexpr int kElementThreads = 256;

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffU, v, offset);
  return v;
}

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, offset));
  return v;
}

// Sum (or max) over the block, returned to every thread. `scratch` holds one float per warp.
template <bool kMax>
__device__ float block_reduce(float v, float* scratch) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  v = kMax ? warp_max(v) : warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  float r = lane < warps ? scratch[lane] : (kMax ? -INFINITY : 0.0F);
  r = kMax ? warp_max(r) : warp_sum(r);
  __syncthreads();  // scratch is reused by the next reduction
  return r;
}

__global__ void layer_norm_kernel(float* x, const float* gamma, const float* beta, int cols,
                                  float epsilon) {
  __shared__ float scratch[32];
  float* row = x + static_cast<size_t>(blockIdx.x) * cols;
  float sum = 0.0F;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) sum += row[i];
  const float mean = block_reduce<false>(sum, scratch) / static_cast<float>(cols);
  float squares = 0.0F;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float c = row[i] - mean;
    squares += c * c;
  }
  const float inv_std =
      1.0F / sqrtf(block_reduce<false>(squares, scratch) / static_cast<float>(cols) + epsilon);
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
}

__global__ void softmax_kernel(float* x, int cols, int block_rows, int causal_offset) {
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  float* row = x + static_cast<size_t>(r) * cols;
  const int visible = causal_offset < 0 ? cols : min(cols, r % block_rows + causal_offset + 1);
  float m = -INFINITY;
  for (int i = threadIdx.x; i < visible; i += blockDim.x) m = fmaxf(m, row[i]);
  const float max_value = block_reduce<true>(m, scratch);
  float sum = 0.0F;
  for (int i = threadIdx.x; i < visible; i += blockDim.x) {
    const float e = expf(row[i] - max_value);
    row[i] = e;
    sum += e;
  }
  const float inverse = 1.0F / block_reduce<false>(sum, scratch);
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    row[i] = i < visible ? row[i] * inverse : 0.0F;
}

__global__ void gelu_kernel(float* x, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    x[i] = 0.5F * v * (1.0F + erff(v * 0.70710678118654752F));
  }
}

__global__ void add_kernel(const float* x, float* y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] += x[i];
  }
}

__global__ void bias_rows_kernel(const float* bias, float* y, int rows, int cols) {
  const size_t n = static_cast<size_t>(rows) * cols;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] = bias[i % cols];
  }
}

template <typename Half>
__global__ void to_half_kernel(const float* x, Half* y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<Half, __half>) {
      y[i] = __float2half_rn(x[i]);
    } else {
      y[i] = __float2bfloat16_rn(x[i]);
    }
  }
}

unsigned int element_blocks(size_t n) {
  const size_t blocks = (n + kElementThreads - 1) / kElementThreads;
  return static_cast<unsigned int>(blocks < 65535 ? (blocks == 0 ? 1 : blocks) : 65535);
}

}  // namespace

cudaError_t launch_layer_norm(float* x, const float* gamma, const float* beta, int rows, int cols,
                              float epsilon, cudaStream_t stream) {
  layer_norm_kernel<<<rows, kRowThreads, 0, stream>>>(x, gamma, beta, cols, epsilon);
  return cudaGetLastError();
}

cudaError_t launch_softmax_rows(float* x, int rows, int cols, int block_rows, int causal_offset,
                                cudaStream_t stream) {
  softmax_kernel<<<rows, kRowThreads, 0, stream>>>(x, cols, block_rows, causal_offset);
  return cudaGetLastError();
}

cudaError_t launch_gelu(float* x, size_t n, cudaStream_t stream) {
  gelu_kernel<<<element_blocks(n), kElementThreads, 0, stream>>>(x, n);
  return cudaGetLastError();
}

cudaError_t launch_add(const float* x, float* y, size_t n, cudaStream_t stream) {
  add_kernel<<<element_blocks(n), kElementThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t launch_bias_rows(const float* bias, float* y, int rows, int cols, cudaStream_t stream) {
  bias_rows_kernel<<<element_blocks(static_cast<size_t>(rows) * cols), kElementThreads, 0,
                     stream>>>(bias, y, rows, cols);
  return cudaGetLastError();
}

cudaError_t launch_to_half(const float* x, void* y, size_t n, HalfType type, cudaStream_t stream) {
  if (type == HalfType::kFloat16) {
    to_half_kernel<<<element_blocks(n), kElementThreads, 0, stream>>>(x, static_cast<__half*>(y),
                                                                      n);
  } else {
    to_half_kernel<<<element_blocks(n), kElementThreads, 0, stream>>>(
        x, static_cast<__nv_bfloat16*>(y), n);
  }
  return cudaGetLastError();
}

cudaError_t kernels_loadable() {
  cudaFuncAttributes attributes{};
  return cudaFuncGetAttributes(&attributes, gelu_kernel);
}

}  // namespace amanuensis::backends::cuda
