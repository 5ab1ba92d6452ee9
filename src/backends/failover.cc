#include "backends/failover.h"

#include <cstdio>
#include <exception>
#include <utility>

#include "backends/log.h"
#include "backends/provider.h"

namespace amanuensis::backends {

namespace {

// > 0 while this thread re-runs a failed request: every op goes to the CPU.
thread_local int cpu_only_depth = 0;
// Steps of this thread whose activations a device keeps (FailoverBackend::keep_on_device).
thread_local int kept_on_device_depth = 0;

class CpuOnlyScope {
 public:
  CpuOnlyScope() { ++cpu_only_depth; }
  ~CpuOnlyScope() { --cpu_only_depth; }
  CpuOnlyScope(const CpuOnlyScope&) = delete;
  CpuOnlyScope& operator=(const CpuOnlyScope&) = delete;
};

}  // namespace

bool retrying_on_cpu() { return cpu_only_depth > 0; }

BackendMonitor::BackendMonitor(std::vector<BackendReport> selection, std::string selected)
    : selection_(std::move(selection)), selected_(std::move(selected)) {}

std::vector<BackendReport> BackendMonitor::reports() const {
  auto reports = selection_;
  const std::lock_guard lock(mutex_);
  if (selected_ == "cpu") return reports;
  for (auto& report : reports) {
    if (report.name == selected_) {
      report.details.emplace_back("run_failures", std::to_string(failures_));
      report.details.emplace_back("requests_retried_on_cpu", std::to_string(retries_));
      if (!last_failure_.empty()) report.details.emplace_back("last_failure", last_failure_);
      if (disabled_) {
        report.selected = false;
        report.reason = "disabled after " + std::to_string(kDisableAfterFailures) +
                        " failed requests in a row (last: " + last_failure_ +
                        "); was: " + report.reason;
      }
    } else if (report.name == "cpu" && disabled_) {
      report.selected = true;
      report.reason = "selected: fallback after " + selected_ + " was disabled";
    }
  }
  return reports;
}

void BackendMonitor::record_failure(const std::string& reason) {
  const std::lock_guard lock(mutex_);
  ++failures_;
  last_failure_ = reason;
}

void BackendMonitor::record_retry() {
  bool now_disabled = false;
  {
    const std::lock_guard lock(mutex_);
    ++retries_;
    if (++consecutive_failures_ >= kDisableAfterFailures && !disabled_) {
      disabled_ = true;
      now_disabled = true;
    }
  }
  if (now_disabled) {
    log_line("backend " + selected_ + " disabled after " + std::to_string(kDisableAfterFailures) +
                 " failed requests in a row; every request now runs on cpu",
             LogLevel::kError);
  }
}

void BackendMonitor::record_success() {
  const std::lock_guard lock(mutex_);
  consecutive_failures_ = 0;
}

FailoverBackend::FailoverBackend(std::unique_ptr<kernels::Backend> device,
                                 std::unique_ptr<kernels::Backend> cpu,
                                 std::shared_ptr<BackendMonitor> monitor, ForcedFailures forced)
    : device_(std::move(device)),
      cpu_(std::move(cpu)),
      monitor_(std::move(monitor)),
      forced_(forced) {}

std::string FailoverBackend::describe() const {
  return device_->describe() + "; fallback " + cpu_->describe();
}

template <typename Op>
void FailoverBackend::call(const Op& op) {
  if (cpu_only_depth > 0 || monitor_->disabled()) {
    if (cpu_only_depth == 0 && kept_on_device_depth > 0) {
      throw BackendFailed(std::string(device_->name()),
                          "taken out of use while this thread's activations were on it");
    }
    op(*cpu_);
    return;
  }
  try {
    if (forced_.run_from_call && ++calls_ >= *forced_.run_from_call) {
      throw DeviceError(forced_failure_message(device_->name(), "run"));
    }
    op(*device_);
  } catch (const std::exception& e) {
    monitor_->record_failure(e.what());
    throw BackendFailed(std::string(device_->name()), e.what());
  }
}

void FailoverBackend::keep_on_device(std::span<const std::span<float>> ranges) {
  if (cpu_only_depth > 0 || monitor_->disabled()) return;
  try {
    device_->keep_on_device(ranges);
  } catch (const std::exception& e) {
    monitor_->record_failure(e.what());
    throw BackendFailed(std::string(device_->name()), e.what());
  }
  ++kept_on_device_depth;
}

void FailoverBackend::end_keep_on_device(std::span<const std::span<float>> ranges) noexcept {
  if (kept_on_device_depth == 0) return;  // kept nowhere (the CPU ran this thread's ops)
  --kept_on_device_depth;
  device_->end_keep_on_device(ranges);
}

void FailoverBackend::copy_rows(kernels::MatrixView from, kernels::MutableMatrixView to) {
  call([&](kernels::Backend& backend) { backend.copy_rows(from, to); });
}

void FailoverBackend::make_resident_weight(kernels::MatrixView weight) {
  prepare([&] { device_->make_resident_weight(weight); });
}

void FailoverBackend::make_resident_int8_weight(const kernels::Int8Matrix& weight) {
  prepare([&] { device_->make_resident_int8_weight(weight); });
}

void FailoverBackend::make_resident_head_major(const float* k, const float* v, int keys,
                                               int n_heads, int head_dim) {
  prepare([&] { device_->make_resident_head_major(k, v, keys, n_heads, head_dim); });
}

void FailoverBackend::make_resident_half_cache(const kernels::HalfKeyValues& kv) {
  prepare([&] { device_->make_resident_half_cache(kv); });
}

template <typename Upload>
void FailoverBackend::prepare(const Upload& upload) {
  if (monitor_->disabled()) return;
  try {
    upload();
  } catch (const std::exception& e) {
    monitor_->record_failure(e.what());
    log_line(std::string("backend ") + std::string(device_->name()) +
                 ": data not uploaded ahead of use (" + e.what() + "); it goes at first use",
             LogLevel::kWarning);
  }
}

void FailoverBackend::matmul(kernels::MatrixView a, kernels::MatrixView b, bool transpose_b,
                             float alpha, float beta, kernels::MutableMatrixView c) {
  call([&](kernels::Backend& backend) { backend.matmul(a, b, transpose_b, alpha, beta, c); });
}

void FailoverBackend::linear(kernels::MatrixView x, kernels::MatrixView weight,
                             std::span<const float> bias, kernels::MutableMatrixView y) {
  call([&](kernels::Backend& backend) { backend.linear(x, weight, bias, y); });
}

void FailoverBackend::linear_int8(kernels::MatrixView x, const kernels::Int8Matrix& weight,
                                  std::span<const float> bias, kernels::MutableMatrixView y) {
  call([&](kernels::Backend& backend) { backend.linear_int8(x, weight, bias, y); });
}

void FailoverBackend::attention(kernels::MatrixView q, kernels::MatrixView k, kernels::MatrixView v,
                                int n_heads, float scale, int causal_offset,
                                kernels::MutableMatrixView out) {
  call([&](kernels::Backend& backend) {
    backend.attention(q, k, v, n_heads, scale, causal_offset, out);
  });
}

void FailoverBackend::attention_many(std::span<const kernels::AttentionProblem> problems,
                                     int n_heads, float scale) {
  call([&](kernels::Backend& backend) { backend.attention_many(problems, n_heads, scale); });
}

void FailoverBackend::attention_reduced(kernels::MatrixView q, kernels::MatrixView k,
                                        kernels::MatrixView v, int n_heads, float scale,
                                        kernels::MutableMatrixView out) {
  call([&](kernels::Backend& backend) { backend.attention_reduced(q, k, v, n_heads, scale, out); });
}

void FailoverBackend::attention_head_major(kernels::MatrixView q, const float* k, const float* v,
                                           int keys, int n_heads, float scale,
                                           kernels::MutableMatrixView out) {
  call([&](kernels::Backend& backend) {
    backend.attention_head_major(q, k, v, keys, n_heads, scale, out);
  });
}

void FailoverBackend::attention_half_cache(kernels::MatrixView q, const kernels::HalfKeyValues& kv,
                                           float scale, kernels::MutableMatrixView out,
                                           std::span<float* const> head_scores) {
  call([&](kernels::Backend& backend) {
    backend.attention_half_cache(q, kv, scale, out, head_scores);
  });
}

void FailoverBackend::layer_norm(kernels::MutableMatrixView x, std::span<const float> gamma,
                                 std::span<const float> beta, float epsilon) {
  call([&](kernels::Backend& backend) { backend.layer_norm(x, gamma, beta, epsilon); });
}

void FailoverBackend::gelu(std::span<float> x) {
  call([&](kernels::Backend& backend) { backend.gelu(x); });
}

void FailoverBackend::softmax_rows(kernels::MutableMatrixView x, int causal_offset) {
  call([&](kernels::Backend& backend) { backend.softmax_rows(x, causal_offset); });
}

void FailoverBackend::add(std::span<const float> x, std::span<float> y) {
  call([&](kernels::Backend& backend) { backend.add(x, y); });
}

Transcription run_with_failover(
    BackendMonitor* monitor, const SegmentCallback& on_segment,
    const std::function<Transcription(const SegmentCallback&)>& request) {
  if (monitor == nullptr || monitor->selected() == "cpu" || cpu_only_depth > 0) {
    return request(on_segment);
  }
  std::size_t delivered = 0;
  try {
    auto result = request([&](const Segment& segment) {
      ++delivered;
      if (on_segment) on_segment(segment);
    });
    monitor->record_success();
    return result;
  } catch (const BackendFailed& e) {
    log_line("backend " + e.backend() + " failed during a request: " + e.reason() +
                 "; running the request again on cpu",
             LogLevel::kWarning);
  }
  monitor->record_retry();
  const CpuOnlyScope cpu_only;
  std::size_t replayed = 0;
  return request([&](const Segment& segment) {
    if (replayed++ < delivered) return;  // the caller has this one already
    if (on_segment) on_segment(segment);
  });
}

}  // namespace amanuensis::backends
