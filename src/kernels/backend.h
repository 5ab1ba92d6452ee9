// The compute a transformer needs, behind one interface so that other devices can supply it.
// Matrices are row-major float32; `ld*` arguments are row strides in elements, which lets callers
// address one attention head inside a wider matrix without copying. Nothing here knows Whisper.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

namespace amanuensis::kernels {

struct MatrixView {
  const float* data;
  int rows;
  int cols;
  int ld;  // elements between the starts of consecutive rows
};

struct MutableMatrixView {
  float* data;
  int rows;
  int cols;
  int ld;
};

class Backend {
 public:
  virtual ~Backend() = default;

  [[nodiscard]] virtual std::string_view name() const = 0;

  // c = alpha * a * op(b) + beta * c, where op(b) is b or its transpose.
  virtual void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
                      MutableMatrixView c) = 0;

  // y[r] = x[r] * w^T + bias for every row: a dense layer with weights stored [out, in].
  virtual void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
                      MutableMatrixView y) = 0;

  // Normalises each row of x in place to zero mean and unit variance, then scales and shifts.
  virtual void layer_norm(MutableMatrixView x, std::span<const float> gamma,
                          std::span<const float> beta, float epsilon) = 0;

  // Exact (erf-based) GELU, in place.
  virtual void gelu(std::span<float> x) = 0;

  // Softmax of each row in place. With causal_offset >= 0, row r sees only columns
  // [0, r + causal_offset] and the rest become 0, so causal attention needs no mask matrix;
  // a negative causal_offset means every column is visible.
  virtual void softmax_rows(MutableMatrixView x, int causal_offset) = 0;

  // y += x, element-wise.
  virtual void add(std::span<const float> x, std::span<float> y) = 0;
};

// The reference backend: OpenBLAS for matrix products, plain loops for the rest.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace amanuensis::kernels
