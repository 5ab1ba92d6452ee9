// The OpenCL backend's class, which opencl_backend.h's make_opencl_backend makes, shared by the
// files that define its parts: opencl_backend.cc (set-up, residency, dense ops, row copies),
// opencl_attention.cc (the attention ops) and opencl_device_data.cc (device buffers, transfers,
// kernel launches). Internal to the backend.
#pragma once

#include <clblast.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/opencl/opencl_kept.h"
#include "backends/opencl/opencl_kernels.h"
#include "backends/opencl/opencl_row_mirrors.h"
#include "backends/provider.h"
#include "backends/resident_copies.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::backends::opencl {

using kernels::MatrixView;
using kernels::MutableMatrixView;

// Dense layers with at most this many rows run as matrix-vector products.
constexpr int kGemvRows = 8;
// Attention scores of this many bytes at most are held at once; more heads go in turns.
constexpr std::size_t kScoreBudgetBytes = std::size_t{64} << 20;

inline std::size_t round_up(std::size_t value, std::size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

inline std::size_t dense_floats(MatrixView m) { return static_cast<std::size_t>(m.rows) * m.cols; }

// Waits for the queue when an op leaves by an exception, so that no copy still reads or writes
// host memory the caller is about to free.
class FinishOnThrow {
 public:
  explicit FinishOnThrow(cl_command_queue queue)
      : queue_(queue), exceptions_(std::uncaught_exceptions()) {}
  ~FinishOnThrow() {
    if (std::uncaught_exceptions() > exceptions_) clFinish(queue_);
  }
  FinishOnThrow(const FinishOnThrow&) = delete;
  FinishOnThrow& operator=(const FinishOnThrow&) = delete;

 private:
  cl_command_queue queue_;
  int exceptions_;
};

struct Int8Weights {
  Memory q;       // [rows, padded_cols] int8, row-major
  Memory scales;  // [rows]
};

class OpenClBackend final : public kernels::Backend {
 public:
  explicit OpenClBackend(DeviceInfo device);

  [[nodiscard]] std::string_view name() const override { return "opencl"; }

  [[nodiscard]] std::optional<kernels::DeviceTraffic> traffic() const override {
    return traffic_.totals();
  }

  void make_resident(const void* data, std::size_t bytes) override { resident_.add(data, bytes); }
  void release_resident(const void* data) override;
  void make_resident_rows(const float* data, std::size_t capacity) override {
    const std::lock_guard lock(mutex_);
    row_mirrors_.add(data, capacity);
  }
  void copy_resident_rows(const float* from, const float* to, std::size_t floats) override {
    const std::lock_guard lock(mutex_);
    row_mirrors_.copy(context_.get(), queue_.get(), from, to, floats);
  }
  void keep_on_device(std::span<const std::span<float>> ranges) override {
    const std::lock_guard lock(mutex_);
    kept_.keep(context_.get(), queue_.get(), ranges);
  }
  // The step's work is waited for (once) before its scratch is the host's again.
  void end_keep_on_device(std::span<const std::span<float>> ranges) noexcept override;
  void copy_rows(MatrixView from, MutableMatrixView to) override;
  // Weights cross at load, dense (float) or as plain rows with a scale each (int8).
  void make_resident_weight(MatrixView weight) override {
    Backend::make_resident_weight(weight);  // the range
    (void)weight_buffer(weight);
  }
  void make_resident_int8_weight(const kernels::Int8Matrix& weight) override {
    Backend::make_resident_int8_weight(weight);
    (void)int8_weight_buffers(weight);
  }
  // A window's cross-attention caches cross when the window is encoded, not in its first step.
  void make_resident_head_major(const float* k, const float* v, int keys, int n_heads,
                                int head_dim) override;
  void make_resident_half_cache(const kernels::HalfKeyValues& kv) override;

  [[nodiscard]] std::string describe() const override {
    return "opencl " + device_.name + " (" + device_.platform_name + "), clblast sgemm";
  }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override;

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override;

  void linear_int8(MatrixView x, const kernels::Int8Matrix& weight, std::span<const float> bias,
                   MutableMatrixView y) override;

  void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                 int causal_offset, MutableMatrixView out) override;

  // The beams of a window share their prompt's keys and values (AttentionProblem::shared_k),
  // which the model makes resident while it decodes the window: they cross the bus once. Each
  // beam's own rows, which the model makes resident rows, grow a device copy of their own (each
  // row sent once). A problem's keys are then the prompt's device copy followed by the beam's.
  // Problems whose shared rows are not resident, or whose rows are not dense, are stacked on the
  // host (the base class's way); own rows that are not resident are sent per call.
  void attention_many(std::span<const kernels::AttentionProblem> problems, int n_heads,
                      float scale) override;

  // Cross-attention: keys and values head by head, the same for every decoding step of a window,
  // which the model makes resident while it decodes it: they cross the bus once per window.
  void attention_head_major(MatrixView q, const float* k, const float* v, int keys, int n_heads,
                            float scale, MutableMatrixView out) override;

  // A float16 cache is converted back to float32 rows on the host when it is uploaded, once per
  // window, and then attended like attention_head_major's. Steps that want scores (word
  // timestamps, rare) take the base class's unfused path.
  void attention_half_cache(MatrixView q, const kernels::HalfKeyValues& kv, float scale,
                            MutableMatrixView out, std::span<float* const> head_scores) override;

  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override;

  void gelu(std::span<float> x) override;

  void softmax_rows(MutableMatrixView x, int causal_offset) override;

  void add(std::span<const float> x, std::span<float> y) override;

 private:
  struct Scratch {
    Memory memory;
    std::size_t floats = 0;
  };

  std::string build_log() const;

  Kernel make_kernel(const char* kernel_name);

  // Device buffer `slot`, grown to hold at least `floats` floats.
  cl_mem scratch(int slot, std::size_t floats);

  Memory new_buffer(const void* data, std::size_t bytes);

  std::shared_ptr<Memory> weight_buffer(MatrixView w);

  // Biases, gammas and betas: model constants, kept like weights when resident.
  std::shared_ptr<Memory> constant_buffer(std::span<const float> values);

  std::shared_ptr<Int8Weights> int8_weight_buffers(const kernels::Int8Matrix& w);

  // Host view (any row stride) -> dense device matrix.
  void upload(cl_mem buffer, MatrixView m);

  // Device place -> host view, waiting (so everything queued before is done); the host's columns
  // beyond m.cols are left alone.
  void download(DevicePlace from, MutableMatrixView m);

  void fill_bias_rows(std::span<const float> bias, cl_mem y, int rows, int cols);

  template <typename... Args>
  void set_args(cl_kernel kernel, const Args&... args) {
    cl_uint index = 0;
    // sizeof(Args) is intended where Args is a pointer: an OpenCL kernel argument's size is that of
    // the handle itself, sizeof(cl_mem) for a buffer (a pointer to an opaque struct).
    // NOLINTNEXTLINE(bugprone-sizeof-expression): intended, see above
    (check(clSetKernelArg(kernel, index++, sizeof(Args), &args), "clSetKernelArg"), ...);
  }

  void run_rows(cl_kernel kernel, int rows);

  void run_1d(cl_kernel kernel, std::size_t n);

  void run_2d(cl_kernel kernel, std::size_t columns, std::size_t rows);

  // Where each head's keys (or values) are in a device buffer: head h starts at h * head_stride,
  // rows `ld` apart.
  struct HeadLayout {
    cl_mem buffer;
    std::size_t ld;
    std::size_t head_stride;
  };

  // softmax(scale q k^T) v per head, with the scores of as many heads as fit kScoreBudgetBytes
  // at once: two batched CLBlast products around our softmax. Expects the lock held.
  void attend(MatrixView q, HeadLayout k, HeadLayout v, std::size_t keys, int n_heads, float scale,
              int causal_offset, MutableMatrixView out);

  // An op's input: its kept device copy (keep_on_device), or sent dense into scratch `slot`.
  DevicePlace place_of(MatrixView m, int slot);

  // The same, dense from the buffer's start (as our kernels read it): a kept copy that is not
  // is copied on the device into scratch `slot`.
  cl_mem dense_input(MatrixView m, int slot);

  // Where an op computes its result for host view `m` (dense from the buffer's start): m's kept
  // copy when that is so placed, else scratch `slot`; deliver() then takes it to m.
  cl_mem result_buffer(MutableMatrixView m, int slot);

  // A result, dense in `buffer`, to host view `m`: into m's kept copy on the device, or brought
  // to the host (which waits for it).
  void deliver(cl_mem buffer, MutableMatrixView m);

  // Whether `shared` (dense rows) has a device copy to keep: a resident range, or resident rows
  // (a beam's cache that became the window's shared prompt).
  [[nodiscard]] bool shared_on_device(MatrixView shared) const;

  // Whether a problem reads cache rows that exist only on the device (which the host's
  // stacking in Backend::attention_many cannot read).
  [[nodiscard]] bool rows_ahead_of_host(const kernels::AttentionProblem& p) const;

  // The device rows of resident `shared` (copied once) followed by `own`'s dense rows (from their
  // mirror, or sent): own's mirror itself when nothing is shared, else both stacked in scratch
  // `slot`.
  cl_mem keys_on_device(MatrixView shared, MatrixView own, int slot);

  std::shared_ptr<Memory> window_constant(const float* data, int rows, int cols);

  // The float32 copy, [n_heads * n_keys, head_dim], of kv's keys or values.
  std::shared_ptr<Memory> half_window_constant(const kernels::HalfKeyValues& kv, bool keys);

  static void clblast_check(clblast::StatusCode status, const char* what);

  void gemm(bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha, cl_mem a,
            std::size_t a_offset, std::size_t lda, cl_mem b, std::size_t b_offset, std::size_t ldb,
            float beta, cl_mem c, std::size_t c_offset, std::size_t ldc);

  std::mutex mutex_;
  DeviceInfo device_;
  Context context_;
  Queue queue_;
  Program program_;
  Kernel layer_norm_, softmax_, gelu_, add_, bias_rows_, quantize_rows_, int8_gemm_;
  std::array<Scratch, 5> scratch_;
  ResidentRanges resident_;
  ResidentCopies<Memory> float_weights_{resident_};
  ResidentCopies<Int8Weights> int8_weights_{resident_};
  ResidentCopies<Memory> window_constants_{resident_};
  RowMirrors row_mirrors_;  // under mutex_
  KeptRanges kept_;         // under mutex_
  bool pending_ = false;    // work queued on kept ranges since the last wait; under mutex_
  kernels::TrafficCounter traffic_;
};

}  // namespace amanuensis::backends::opencl
