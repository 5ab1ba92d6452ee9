// Fused multi-head attention for the CUDA backend, flash-attention style: the scores never reach
// global memory. One warp owns one query row of one head; the 8 warps of a block share each tile
// of 32 keys and values staged in shared memory. Per tile, lane j scores key j, the warp keeps a
// running maximum and sum (online softmax) and rescales its accumulated output, so that one pass
// over the keys gives softmax(scale q k^T) v.
#include <cmath>
#include <type_traits>

#include "backends/cuda/cuda_kernels.h"

namespace amanuensis::backends::cuda {

namespace {

constexpr int kWarps = 8;      // query rows per block
constexpr int kTileKeys = 32;  // keys per shared-memory tile: one per lane

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, offset));
  return v;
}

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffU, v, offset);
  return v;
}

// kDims: head dimensions per lane (head_dim <= 32 * kDims).
template <int kDims>
__global__ void __launch_bounds__(kWarps * 32)
    flash_attention_kernel(const float* __restrict__ q, int ldq, const float* __restrict__ k,
                           int ldk, size_t k_head_stride, const float* __restrict__ v, int ldv,
                           size_t v_head_stride, float* __restrict__ out, int ldo, int rows,
                           int keys, int head_dim, float scale, int causal_offset) {
  extern __shared__ float shared[];
  const int k_stride =
      head_dim + 1;        // padding: lanes read different keys' rows without bank conflicts
  float* k_tile = shared;  // [kTileKeys][head_dim + 1]
  float* v_tile = k_tile + kTileKeys * k_stride;  // [kTileKeys][head_dim]
  float* q_rows = v_tile + kTileKeys * head_dim;  // [kWarps][head_dim], pre-scaled

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * kWarps + warp;
  const int column = blockIdx.y * head_dim;
  const float* k_head = k + blockIdx.y * k_head_stride;
  const float* v_head = v + blockIdx.y * v_head_stride;
  const bool active = row < rows;

  for (int d = lane; d < head_dim; d += 32) {
    q_rows[warp * head_dim + d] =
        active ? q[static_cast<size_t>(row) * ldq + column + d] * scale : 0.0F;
  }
  // Keys this row sees, and the most any row of the block sees (how many tiles to stage).
  const int visible = !active ? 0 : causal_offset < 0 ? keys : min(keys, row + causal_offset + 1);
  const int last_row = min(rows, static_cast<int>(blockIdx.x + 1) * kWarps) - 1;
  const int block_keys = causal_offset < 0 ? keys : min(keys, last_row + causal_offset + 1);

  float running_max = -INFINITY;
  float running_sum = 0.0F;
  float acc[kDims];
  for (int i = 0; i < kDims; ++i) acc[i] = 0.0F;

  for (int t0 = 0; t0 < block_keys; t0 += kTileKeys) {
    const int tile = min(kTileKeys, block_keys - t0);
    __syncthreads();  // the previous tile is no longer read (and q_rows is written, first time)
    for (int i = threadIdx.x; i < tile * head_dim; i += blockDim.x) {
      const int j = i / head_dim;
      const int d = i % head_dim;
      k_tile[j * k_stride + d] = k_head[static_cast<size_t>(t0 + j) * ldk + d];
      v_tile[j * head_dim + d] = v_head[static_cast<size_t>(t0 + j) * ldv + d];
    }
    __syncthreads();
    if (t0 >= visible) continue;  // warp-uniform; the block still meets at the barriers above

    const int key = t0 + lane;
    float score = -INFINITY;
    if (lane < tile && key < visible) {
      const float* q_row = q_rows + warp * head_dim;
      const float* k_row = k_tile + lane * k_stride;
      float dot = 0.0F;
      for (int d = 0; d < head_dim; ++d) dot = fmaf(q_row[d], k_row[d], dot);
      score = dot;
    }
    const float new_max = fmaxf(running_max, warp_max(score));
    const float p = score == -INFINITY ? 0.0F : expf(score - new_max);
    const float correction = running_max == -INFINITY ? 0.0F : expf(running_max - new_max);
    running_sum = running_sum * correction + warp_sum(p);
    running_max = new_max;
    for (int i = 0; i < kDims; ++i) acc[i] *= correction;
    for (int j = 0; j < tile; ++j) {
      const float pj = __shfl_sync(0xffffffffU, p, j);
      const float* v_row = v_tile + j * head_dim;
      for (int i = 0; i < kDims; ++i) {
        const int d = lane + 32 * i;
        if (d < head_dim) acc[i] = fmaf(pj, v_row[d], acc[i]);
      }
    }
  }
  if (!active) return;
  const float inverse = running_sum > 0.0F ? 1.0F / running_sum : 0.0F;
  for (int i = 0; i < kDims; ++i) {
    const int d = lane + 32 * i;
    if (d < head_dim) out[static_cast<size_t>(row) * ldo + column + d] = acc[i] * inverse;
  }
}

template <int kDims>
cudaError_t launch(const float* q, int ldq, const float* k, int ldk, size_t k_head_stride,
                   const float* v, int ldv, size_t v_head_stride, float* out, int ldo, int rows,
                   int keys, int n_heads, int head_dim, float scale, int causal_offset,
                   cudaStream_t stream) {
  const dim3 grid((rows + kWarps - 1) / kWarps, n_heads);
  const size_t shared_bytes =
      sizeof(float) * (kTileKeys * (head_dim + 1) + kTileKeys * head_dim + kWarps * head_dim);
  flash_attention_kernel<kDims><<<grid, kWarps * 32, shared_bytes, stream>>>(
      q, ldq, k, ldk, k_head_stride, v, ldv, v_head_stride, out, ldo, rows, keys, head_dim, scale,
      causal_offset);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_flash_attention(const float* q, int ldq, const float* k, int ldk,
                                   std::size_t k_head_stride, const float* v, int ldv,
                                   std::size_t v_head_stride, float* out, int ldo, int rows,
                                   int keys, int n_heads, int head_dim, float scale,
                                   int causal_offset, cudaStream_t stream) {
  if (rows == 0 || n_heads == 0) return cudaSuccess;
  const auto run = [&](auto dims) {
    return launch<decltype(dims)::value>(q, ldq, k, ldk, k_head_stride, v, ldv, v_head_stride, out,
                                         ldo, rows, keys, n_heads, head_dim, scale, causal_offset,
                                         stream);
  };
  if (head_dim <= 32) return run(std::integral_constant<int, 1>());
  if (head_dim <= 64) return run(std::integral_constant<int, 2>());
  if (head_dim <= kMaxHeadDim) return run(std::integral_constant<int, 4>());
  return cudaErrorInvalidValue;
}

}  // namespace amanuensis::backends::cuda
