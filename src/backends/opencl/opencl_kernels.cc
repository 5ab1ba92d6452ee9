#include "backends/opencl/opencl_kernels.h"

namespace amanuensis::backends::opencl {

// Each row kernel runs one work-group of ROW_GROUP (a power of two) items per row; the math
// follows src/kernels/vector_ops.cc (two-pass layer norm, max-shifted softmax, erf GELU).
const char* const kKernelSource = R"CLC(
// Separate multiplies and adds, as the CPU kernels round them (the int8 path relies on it).
#pragma OPENCL FP_CONTRACT OFF

float group_sum(float value, __local float* scratch) {
  const int lid = get_local_id(0);
  scratch[lid] = value;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = ROW_GROUP / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] += scratch[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float result = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return result;
}

float group_max(float value, __local float* scratch) {
  const int lid = get_local_id(0);
  scratch[lid] = value;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = ROW_GROUP / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float result = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return result;
}

__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1)))
void layer_norm(__global float* x, __global const float* gamma, __global const float* beta,
                int cols, float epsilon) {
  __local float scratch[ROW_GROUP];
  __global float* row = x + (size_t)get_group_id(0) * cols;
  const int lid = get_local_id(0);
  float sum = 0.0f;
  for (int i = lid; i < cols; i += ROW_GROUP) sum += row[i];
  const float mean = group_sum(sum, scratch) / (float)cols;
  float squares = 0.0f;
  for (int i = lid; i < cols; i += ROW_GROUP) {
    const float c = row[i] - mean;
    squares += c * c;
  }
  const float inv_std = 1.0f / sqrt(group_sum(squares, scratch) / (float)cols + epsilon);
  for (int i = lid; i < cols; i += ROW_GROUP) row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
}

// Row r of each block of `block_rows` rows sees columns [0, r % block_rows + causal_offset];
// causal_offset < 0: every column.
__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1)))
void softmax_rows(__global float* x, int cols, int block_rows, int causal_offset) {
  __local float scratch[ROW_GROUP];
  const int r = get_group_id(0);
  __global float* row = x + (size_t)r * cols;
  const int lid = get_local_id(0);
  const int visible = causal_offset < 0 ? cols : min(cols, r % block_rows + causal_offset + 1);
  float m = -INFINITY;
  for (int i = lid; i < visible; i += ROW_GROUP) m = fmax(m, row[i]);
  const float max_value = group_max(m, scratch);
  float sum = 0.0f;
  for (int i = lid; i < visible; i += ROW_GROUP) {
    const float e = exp(row[i] - max_value);
    row[i] = e;
    sum += e;
  }
  const float inverse = 1.0f / group_sum(sum, scratch);
  for (int i = lid; i < cols; i += ROW_GROUP) row[i] = i < visible ? row[i] * inverse : 0.0f;
}

__kernel void gelu(__global float* x, int n) {
  const int i = get_global_id(0);
  if (i < n) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
  }
}

__kernel void add(__global const float* x, __global float* y, int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] += x[i];
}

// y[r, c] = bias[c]: the starting value of a product that adds a bias (beta = 1).
__kernel void bias_rows(__global const float* bias, __global float* y, int cols) {
  const int c = get_global_id(0);
  const int r = get_global_id(1);
  if (c < cols) y[(size_t)r * cols + c] = bias[c];
}

// Quantises each row of x[rows, k] to int8 with one scale per row, as quantize_rows in
// src/kernels/int8_gemm.cc: scale = max|x| / 127, rounding half away from zero.
__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1)))
void quantize_rows(__global const float* x, int k, int padded_k, __global char* q,
                   __global float* scales) {
  __local float scratch[ROW_GROUP];
  const int r = get_group_id(0);
  const int lid = get_local_id(0);
  __global const float* row = x + (size_t)r * k;
  float m = 0.0f;
  for (int i = lid; i < k; i += ROW_GROUP) m = fmax(m, fabs(row[i]));
  const float max_value = group_max(m, scratch);
  const float inverse = max_value > 0.0f ? 127.0f / max_value : 0.0f;
  for (int i = lid; i < padded_k; i += ROW_GROUP) {
    const float v = i < k ? row[i] * inverse : 0.0f;
    q[(size_t)r * padded_k + i] = (char)(int)(v + (v >= 0.0f ? 0.5f : -0.5f));
  }
  if (lid == 0) scales[r] = max_value / 127.0f;
}

// y[r, n] = (sum_k q[r, k] w[n, k]) * scale[r] * w_scale[n] + bias[n], exact in int32.
__kernel void int8_gemm(__global const char4* q, __global const float* scales,
                        __global const char4* w, __global const float* w_scales,
                        __global const float* bias, int has_bias, int n, int k4,
                        __global float* y) {
  const int c = get_global_id(0);
  const int r = get_global_id(1);
  if (c >= n) return;
  __global const char4* a = q + (size_t)r * k4;
  __global const char4* b = w + (size_t)c * k4;
  int acc = 0;
  for (int i = 0; i < k4; ++i) {
    const int4 p = convert_int4(a[i]) * convert_int4(b[i]);
    acc += p.x + p.y + p.z + p.w;
  }
  y[(size_t)r * n + c] = (float)acc * scales[r] * w_scales[c] + (has_bias ? bias[c] : 0.0f);
}
)CLC";

}  // namespace amanuensis::backends::opencl
