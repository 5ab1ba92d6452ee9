// What the model's source files share: per-thread buffers, timers and the step traffic count. Not
// part of the model's interface.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/backend.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::model::detail {

constexpr float kLayerNormEpsilon = 1e-5F;

// Buffers reused by every call on one thread: after the first window nothing is allocated.
struct Workspace {
  std::vector<float> columns;
  std::vector<float> normed;
  std::vector<float> qkv;
  std::vector<float> context;
  std::vector<float> projected;
  std::vector<float> hidden;
  std::vector<float> scores;
  std::vector<float> x;
  std::vector<kernels::AttentionProblem> attention_problems;
};

// This thread's buffers.
Workspace& workspace();

class Timer {
 public:
  explicit Timer(std::atomic<std::int64_t>& total)
      : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Timer() {
    total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  std::atomic<std::int64_t>& total_;
  std::chrono::steady_clock::time_point start_;
};

// Adds what a device backend moved and waited for during one decoder step to `totals`. (Ops of
// other threads on the same backend in the meantime count too: exact for one transcription at a
// time, as benchmarks run.)
class StepTraffic {
 public:
  StepTraffic(const kernels::Backend& backend, kernels::TrafficCounter& totals)
      : backend_(backend), totals_(totals), before_(backend.traffic()) {}
  ~StepTraffic() {
    if (!before_) return;
    auto during = backend_.traffic().value_or(*before_);
    during -= *before_;
    totals_.add(during);
  }
  StepTraffic(const StepTraffic&) = delete;
  StepTraffic& operator=(const StepTraffic&) = delete;

 private:
  const kernels::Backend& backend_;
  kernels::TrafficCounter& totals_;
  std::optional<kernels::DeviceTraffic> before_;
};

}  // namespace amanuensis::model::detail
