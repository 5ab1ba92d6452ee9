#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "kernels/backend.h"

namespace amanuensis::kernels {

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) {
    if (threads > 0) openblas_set_num_threads(threads);
  }

  [[nodiscard]] std::string_view name() const override { return "cpu"; }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, c.rows,
                c.cols, a.cols, alpha, a.data, a.ld, b.data, b.ld, beta, c.data, c.ld);
  }

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override {
    float beta = 0.0F;
    if (!bias.empty()) {
      for (int r = 0; r < y.rows; ++r) std::copy(bias.begin(), bias.end(), y.data + r * y.ld);
      beta = 1.0F;
    }
    if (x.rows == 1) {
      // One row is a matrix-vector product; gemv streams the weights once, which is what
      // token-by-token decoding is bound by.
      cblas_sgemv(CblasRowMajor, CblasNoTrans, weight.rows, weight.cols, 1.0F, weight.data,
                  weight.ld, x.data, 1, beta, y.data, 1);
      return;
    }
    matmul(x, weight, /*transpose_b=*/true, 1.0F, beta, y);
  }

  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override {
    for (int r = 0; r < x.rows; ++r) {
      float* row = x.data + r * x.ld;
      double sum = 0.0;
      for (int i = 0; i < x.cols; ++i) sum += row[i];
      const auto mean = static_cast<float>(sum / x.cols);
      double squares = 0.0;
      for (int i = 0; i < x.cols; ++i) {
        const float d = row[i] - mean;
        squares += static_cast<double>(d) * d;
      }
      const auto inv_std = static_cast<float>(1.0 / std::sqrt(squares / x.cols + epsilon));
      for (int i = 0; i < x.cols; ++i) row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
    }
  }

  void gelu(std::span<float> x) override {
    constexpr float kInvSqrt2 = 1.0F / std::numbers::sqrt2_v<float>;
    for (float& v : x) v = 0.5F * v * (1.0F + std::erf(v * kInvSqrt2));
  }

  void softmax_rows(MutableMatrixView x, int causal_offset) override {
    for (int r = 0; r < x.rows; ++r) {
      float* row = x.data + r * x.ld;
      const int visible = causal_offset < 0 ? x.cols : std::min(x.cols, r + causal_offset + 1);
      float max_value = -std::numeric_limits<float>::infinity();
      for (int i = 0; i < visible; ++i) max_value = std::max(max_value, row[i]);
      float sum = 0.0F;
      for (int i = 0; i < visible; ++i) {
        row[i] = std::exp(row[i] - max_value);
        sum += row[i];
      }
      const float inv_sum = 1.0F / sum;
      for (int i = 0; i < visible; ++i) row[i] *= inv_sum;
      std::fill(row + visible, row + x.cols, 0.0F);
    }
  }

  void add(std::span<const float> x, std::span<float> y) override {
    for (std::size_t i = 0; i < y.size(); ++i) y[i] += x[i];
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace amanuensis::kernels
