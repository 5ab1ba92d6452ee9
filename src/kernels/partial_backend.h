// A backend that runs some ops itself and leaves the rest to another (the CPU): a device that
// offloads only the large products (the NPU), or one being brought up op by op. Subclasses
// override the ops they run and say so in supports(); every other op goes to the fallback from
// here, so a new op in kernels::Backend needs code only where some device runs it.
#pragma once

#include <memory>
#include <span>

#include "kernels/backend.h"

namespace amanuensis::kernels {

class PartialBackend : public Backend {
 public:
  explicit PartialBackend(std::unique_ptr<Backend> fallback);

  // Whether this backend runs `op` itself rather than its fallback.
  [[nodiscard]] bool supports(Op op) const override = 0;
  [[nodiscard]] Backend& fallback() const { return *fallback_; }
  // Told to the fallback too; a subclass that keeps copies of its own extends these.
  void make_resident(const void* data, std::size_t bytes) override {
    fallback_->make_resident(data, bytes);
  }
  void release_resident(const void* data) override { fallback_->release_resident(data); }
  void make_resident_rows(const float* data, std::size_t capacity) override {
    fallback_->make_resident_rows(data, capacity);
  }
  void copy_resident_rows(const float* from, const float* to, std::size_t floats) override {
    fallback_->copy_resident_rows(from, to, floats);
  }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override;
  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override;
  void linear_int8(MatrixView x, const Int8Matrix& weight, std::span<const float> bias,
                   MutableMatrixView y) override;
  void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                 int causal_offset, MutableMatrixView out) override;
  void attention_many(std::span<const AttentionProblem> problems, int n_heads,
                      float scale) override;
  void attention_reduced(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                         MutableMatrixView out) override;
  void attention_head_major(MatrixView q, const float* k, const float* v, int keys, int n_heads,
                            float scale, MutableMatrixView out) override;
  void attention_half_cache(MatrixView q, const HalfKeyValues& kv, float scale,
                            MutableMatrixView out, std::span<float* const> head_scores) override;
  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override;
  void gelu(std::span<float> x) override;
  void softmax_rows(MutableMatrixView x, int causal_offset) override;
  void add(std::span<const float> x, std::span<float> y) override;

 private:
  std::unique_ptr<Backend> fallback_;
};

}  // namespace amanuensis::kernels
