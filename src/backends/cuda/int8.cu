// The int8 path of the CUDA backend, matching src/kernels/int8_gemm.cc: activations quantised per
// row, int32 sums of int8 products (dp4a: four products per instruction), float scaling at the
// end. The integer sums equal the CPU's exactly; __fmul_rn/__fadd_rn keep the float steps in the
// CPU's order (no fused multiply-adds).
#include <cstdint>

#include "backends/cuda/cuda_kernels.h"

namespace amanuensis::backends::cuda {

namespace {

constexpr int kQuantizeThreads = 256;
constexpr int kTile = 16;   // output rows and columns per block
constexpr int kChunk = 16;  // 4-byte words of the inner dimension per shared-memory step

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, offset));
  return v;
}

__global__ void quantize_rows_kernel(const float* x, int k, int padded_k, std::int8_t* q,
                                     float* scales) {
  __shared__ float scratch[32];
  const float* row = x + static_cast<size_t>(blockIdx.x) * k;
  float m = 0.0F;
  for (int i = threadIdx.x; i < k; i += blockDim.x) m = fmaxf(m, fabsf(row[i]));
  m = warp_max(m);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = m;
  __syncthreads();
  float max_value = threadIdx.x < blockDim.x / 32 ? scratch[threadIdx.x] : 0.0F;
  if (threadIdx.x < 32) {
    max_value = warp_max(max_value);
    if (threadIdx.x == 0) scratch[0] = max_value;
  }
  __syncthreads();
  max_value = scratch[0];
  const float inverse = max_value > 0.0F ? 127.0F / max_value : 0.0F;
  std::int8_t* out = q + static_cast<size_t>(blockIdx.x) * padded_k;
  for (int i = threadIdx.x; i < padded_k; i += blockDim.x) {
    const float v = i < k ? __fmul_rn(row[i], inverse) : 0.0F;
    out[i] = static_cast<std::int8_t>(static_cast<int>(__fadd_rn(v, v >= 0.0F ? 0.5F : -0.5F)));
  }
  if (threadIdx.x == 0) scales[blockIdx.x] = max_value / 127.0F;
}

__global__ void int8_gemm_kernel(const int* q, const float* scales, const int* w,
                                 const float* w_scales, const float* bias, int rows, int n, int k4,
                                 float* y) {
  __shared__ int a_tile[kTile][kChunk + 1];
  __shared__ int w_tile[kTile][kChunk + 1];
  const int tx = threadIdx.x;  // output column within the tile
  const int ty = threadIdx.y;  // output row within the tile
  const int r = blockIdx.y * kTile + ty;
  const int c = blockIdx.x * kTile + tx;
  const int w_row = blockIdx.x * kTile + ty;
  int acc = 0;
  for (int k0 = 0; k0 < k4; k0 += kChunk) {
    const int word = k0 + tx;
    a_tile[ty][tx] = r < rows && word < k4 ? q[static_cast<size_t>(r) * k4 + word] : 0;
    w_tile[ty][tx] = w_row < n && word < k4 ? w[static_cast<size_t>(w_row) * k4 + word] : 0;
    __syncthreads();
    for (int i = 0; i < kChunk; ++i) acc = __dp4a(a_tile[ty][i], w_tile[tx][i], acc);
    __syncthreads();
  }
  if (r < rows && c < n) {
    const float scaled = __fmul_rn(__fmul_rn(static_cast<float>(acc), scales[r]), w_scales[c]);
    y[static_cast<size_t>(r) * n + c] = bias != nullptr ? __fadd_rn(scaled, bias[c]) : scaled;
  }
}

}  // namespace

cudaError_t launch_quantize_rows(const float* x, int rows, int k, int padded_k, std::int8_t* q,
                                 float* scales, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  quantize_rows_kernel<<<rows, kQuantizeThreads, 0, stream>>>(x, k, padded_k, q, scales);
  return cudaGetLastError();
}

cudaError_t launch_int8_gemm(const std::int8_t* q, const float* scales, const std::int8_t* w,
                             const float* w_scales, const float* bias, int rows, int n,
                             int padded_k, float* y, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  const dim3 grid((n + kTile - 1) / kTile, (rows + kTile - 1) / kTile);
  const dim3 block(kTile, kTile);
  int8_gemm_kernel<<<grid, block, 0, stream>>>(reinterpret_cast<const int*>(q), scales,
                                               reinterpret_cast<const int*>(w), w_scales, bias,
                                               rows, n, padded_k / 4, y);
  return cudaGetLastError();
}

}  // namespace amanuensis::backends::cuda
