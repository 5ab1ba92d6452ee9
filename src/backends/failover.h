// Run-time failover: a device backend wrapped so that a failure in the middle of a request is
// caught, recorded and turned into a retry of that whole request on the CPU backend.
//
// Retrying the request rather than the failed op keeps things simple and safe: an op that failed
// may have half-written its output, and in-place ops (layer norm, GELU) may have lost their input.
// After kDisableAfterFailures consecutive failed requests the device is taken out of use.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "backends/fault_injection.h"
#include "kernels/backend.h"

namespace amanuensis::backends {

inline constexpr int kDisableAfterFailures = 3;

// Thrown out of a request by FailoverBackend when its device failed; run_with_failover catches it.
class BackendFailed : public Error {
 public:
  BackendFailed(std::string backend, const std::string& reason)
      : Error("backend " + backend + " failed: " + reason),
        backend_(std::move(backend)),
        reason_(reason) {}
  [[nodiscard]] const std::string& backend() const { return backend_; }
  [[nodiscard]] const std::string& reason() const { return reason_; }

 private:
  std::string backend_;
  std::string reason_;
};

// What selection decided plus what has happened since: the source of Model::backend_reports().
class BackendMonitor {
 public:
  BackendMonitor(std::vector<BackendReport> selection, std::string selected);

  [[nodiscard]] const std::string& selected() const { return selected_; }
  // The selection reports with the selected device's run-time record added to its details.
  [[nodiscard]] std::vector<BackendReport> reports() const;

  [[nodiscard]] bool disabled() const { return disabled_; }
  void record_failure(const std::string& reason);
  void record_retry();
  void record_success();

 private:
  std::vector<BackendReport> selection_;
  std::string selected_;
  std::atomic<bool> disabled_{false};
  mutable std::mutex mutex_;
  std::int64_t failures_ = 0;
  std::int64_t consecutive_failures_ = 0;
  std::int64_t retries_ = 0;
  std::string last_failure_;
};

// Sends each op to `device`, or to `cpu` while the calling thread retries a request on the CPU
// or once the monitor has disabled the device. A device exception becomes BackendFailed.
class FailoverBackend final : public kernels::Backend {
 public:
  FailoverBackend(std::unique_ptr<kernels::Backend> device, std::unique_ptr<kernels::Backend> cpu,
                  std::shared_ptr<BackendMonitor> monitor, ForcedFailures forced);

  [[nodiscard]] std::string_view name() const override { return device_->name(); }
  [[nodiscard]] std::string describe() const override;
  [[nodiscard]] bool supports(kernels::Op op) const override { return device_->supports(op); }
  // The device's (what ran on the CPU instead crossed no bus).
  [[nodiscard]] std::optional<kernels::DeviceTraffic> traffic() const override {
    return device_->traffic();
  }
  // The device keeps the copies; the CPU, when it runs an op instead, reads host memory.
  void make_resident(const void* data, std::size_t bytes) override {
    device_->make_resident(data, bytes);
  }
  void release_resident(const void* data) override { device_->release_resident(data); }
  void make_resident_rows(const float* data, std::size_t capacity) override {
    device_->make_resident_rows(data, capacity);
  }
  void copy_resident_rows(const float* from, const float* to, std::size_t floats) override {
    device_->copy_resident_rows(from, to, floats);
  }
  // A step's activations are kept on the device only while the device runs this thread's ops;
  // if it is taken out of use meanwhile, the step's next op fails (BackendFailed), since the CPU
  // cannot read what is only on the device.
  void keep_on_device(std::span<const std::span<float>> ranges) override;
  void end_keep_on_device(std::span<const std::span<float>> ranges) noexcept override;
  // A device that cannot take the weights now (out of memory, say) is not an error here: the
  // failure is recorded, and ops that need them fail over as any other.
  void make_resident_weight(kernels::MatrixView weight) override;
  void make_resident_int8_weight(const kernels::Int8Matrix& weight) override;
  void make_resident_head_major(const float* k, const float* v, int keys, int n_heads,
                                int head_dim) override;
  void make_resident_half_cache(const kernels::HalfKeyValues& kv) override;

  void matmul(kernels::MatrixView a, kernels::MatrixView b, bool transpose_b, float alpha,
              float beta, kernels::MutableMatrixView c) override;
  void linear(kernels::MatrixView x, kernels::MatrixView weight, std::span<const float> bias,
              kernels::MutableMatrixView y) override;
  void linear_int8(kernels::MatrixView x, const kernels::Int8Matrix& weight,
                   std::span<const float> bias, kernels::MutableMatrixView y) override;
  void attention(kernels::MatrixView q, kernels::MatrixView k, kernels::MatrixView v, int n_heads,
                 float scale, int causal_offset, kernels::MutableMatrixView out) override;
  void attention_many(std::span<const kernels::AttentionProblem> problems, int n_heads,
                      float scale) override;
  void attention_reduced(kernels::MatrixView q, kernels::MatrixView k, kernels::MatrixView v,
                         int n_heads, float scale, kernels::MutableMatrixView out) override;
  void attention_head_major(kernels::MatrixView q, const float* k, const float* v, int keys,
                            int n_heads, float scale, kernels::MutableMatrixView out) override;
  void attention_half_cache(kernels::MatrixView q, const kernels::HalfKeyValues& kv, float scale,
                            kernels::MutableMatrixView out,
                            std::span<float* const> head_scores) override;
  void layer_norm(kernels::MutableMatrixView x, std::span<const float> gamma,
                  std::span<const float> beta, float epsilon) override;
  void gelu(std::span<float> x) override;
  void softmax_rows(kernels::MutableMatrixView x, int causal_offset) override;
  void add(std::span<const float> x, std::span<float> y) override;
  void copy_rows(kernels::MatrixView from, kernels::MutableMatrixView to) override;

 private:
  // Runs a make_resident_*weight upload on the device, recording a failure instead of throwing.
  template <typename Upload>
  void prepare(const Upload& upload);
  template <typename Op>
  void call(const Op& op);

  std::unique_ptr<kernels::Backend> device_;
  std::unique_ptr<kernels::Backend> cpu_;
  std::shared_ptr<BackendMonitor> monitor_;
  ForcedFailures forced_;
  std::atomic<std::int64_t> calls_{0};
};

// True while this thread re-runs a failed request on the CPU (inside run_with_failover's retry):
// its ops must run on this thread, not be handed to a thread that would send them to the device.
[[nodiscard]] bool retrying_on_cpu();

// Runs `request` (one transcription, given the segment callback to use). If it throws
// BackendFailed, logs the reason and runs it again with every op of this thread on the CPU;
// segments the failed attempt already passed to `on_segment` are not passed again.
Transcription run_with_failover(
    BackendMonitor* monitor, const SegmentCallback& on_segment,
    const std::function<Transcription(const SegmentCallback&)>& request);

}  // namespace amanuensis::backends
