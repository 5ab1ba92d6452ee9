// The float32 kernels of the Silero VAD (silero_vad.cc), written once with Highway and compiled
// for every x86 (SSE4 to AVX-512) and ARM instruction set; the best one the CPU runs is chosen on
// the first call. They run on the calling thread only, so results do not depend on any thread
// count, and for a given CPU they are the same on every run.
#pragma once

#include <cstddef>

namespace amanuensis::vad {

// Matrices of `m` rows addressed through row pointers, so that a convolution's input rows can be
// overlapping windows of one buffer (no im2col copy):
//   c_rows[r][j] = bias[j] + sum_{i < k} a_rows[r][i] * b[i * n + j]   for r < m, j < n,
// then max(0, .) when `relu`. `b` is the weight matrix stored [k][n] (transposed from ONNX's
// [out][in]); `n` must be a multiple of 16 (pad the weights with zero columns).
void gemm_rows(const float* const* a_rows, int m, int k, const float* b, int n, const float* bias,
               bool relu, float* const* c_rows);

// STFT magnitudes of `frames` frames: out[f * out_stride + c] =
// sqrt(re[f * in_stride + c]^2 + im[f * in_stride + c]^2) for c < bins.
void magnitudes(const float* re, const float* im, int frames, int in_stride, int bins, float* out,
                int out_stride);

// The VAD's LSTM (hidden size 128, ONNX gate order i, o, f, c) over `steps` time steps, then its
// head: prob = sigmoid(head_w . relu(h) + head_b). `gates_in` holds each step's input
// contribution W x + Wb + Rb ([steps][512]); `r_t` the recurrent weights stored [128][512]
// (transposed); `h` and `c` (128 each) carry the state in and out.
void lstm_steps(const float* gates_in, int steps, const float* r_t, const float* head_w,
                float head_b, float* h, float* c, float* probs);

// The name of the instruction set these kernels run with, e.g. "AVX3".
const char* vad_kernels_target();

}  // namespace amanuensis::vad
