#include "kernels/partial_backend.h"

#include <utility>

namespace amanuensis::kernels {

PartialBackend::PartialBackend(std::unique_ptr<Backend> fallback)
    : fallback_(std::move(fallback)) {}

void PartialBackend::matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
                            MutableMatrixView c) {
  fallback_->matmul(a, b, transpose_b, alpha, beta, c);
}

void PartialBackend::linear(MatrixView x, MatrixView weight, std::span<const float> bias,
                            MutableMatrixView y) {
  fallback_->linear(x, weight, bias, y);
}

void PartialBackend::linear_int8(MatrixView x, const Int8Matrix& weight,
                                 std::span<const float> bias, MutableMatrixView y) {
  fallback_->linear_int8(x, weight, bias, y);
}

void PartialBackend::attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                               int causal_offset, MutableMatrixView out) {
  fallback_->attention(q, k, v, n_heads, scale, causal_offset, out);
}

void PartialBackend::attention_many(std::span<const AttentionProblem> problems, int n_heads,
                                    float scale) {
  fallback_->attention_many(problems, n_heads, scale);
}

void PartialBackend::attention_reduced(MatrixView q, MatrixView k, MatrixView v, int n_heads,
                                       float scale, MutableMatrixView out) {
  fallback_->attention_reduced(q, k, v, n_heads, scale, out);
}

void PartialBackend::attention_head_major(MatrixView q, const float* k, const float* v, int keys,
                                          int n_heads, float scale, MutableMatrixView out) {
  fallback_->attention_head_major(q, k, v, keys, n_heads, scale, out);
}

void PartialBackend::attention_half_cache(MatrixView q, const HalfKeyValues& kv, float scale,
                                          MutableMatrixView out,
                                          std::span<float* const> head_scores) {
  fallback_->attention_half_cache(q, kv, scale, out, head_scores);
}

void PartialBackend::layer_norm(MutableMatrixView x, std::span<const float> gamma,
                                std::span<const float> beta, float epsilon) {
  fallback_->layer_norm(x, gamma, beta, epsilon);
}

void PartialBackend::gelu(std::span<float> x) { fallback_->gelu(x); }

void PartialBackend::softmax_rows(MutableMatrixView x, int causal_offset) {
  fallback_->softmax_rows(x, causal_offset);
}

void PartialBackend::add(std::span<const float> x, std::span<float> y) { fallback_->add(x, y); }

}  // namespace amanuensis::kernels
