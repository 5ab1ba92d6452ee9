#include "backends/npu/npu_backend.h"

#include <atomic>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "backends/provider.h"
#include "backends/resident_copies.h"
#include "kernels/partial_backend.h"

namespace amanuensis::backends::npu {

namespace {

using kernels::MatrixView;
using kernels::MutableMatrixView;

// Dense layers of at least min_rows rows on the NPU; everything else on the CPU
// (kernels::PartialBackend forwards it).
class NpuBackend final : public kernels::PartialBackend {
 public:
  NpuBackend(std::unique_ptr<TileRunner> runner, std::unique_ptr<kernels::Backend> cpu,
             NpuOptions options)
      : PartialBackend(std::move(cpu)), runner_(std::move(runner)), options_(options) {}

  [[nodiscard]] std::string_view name() const override { return "npu"; }
  [[nodiscard]] std::string describe() const override {
    return "npu " + runner_->describe() + " for products of " + std::to_string(options_.min_rows) +
           "+ rows; " + fallback().describe() + " for the rest";
  }

  [[nodiscard]] bool supports(kernels::Op op) const override { return op == kernels::Op::kLinear; }

  // Weights made resident are packed for the tiles once; others are packed per call.
  void make_resident(const void* data, std::size_t bytes) override {
    resident_.add(data, bytes);
    PartialBackend::make_resident(data, bytes);
  }
  void release_resident(const void* data) override {
    if (const auto range = resident_.remove(data)) packed_.drop(range->first, range->second);
    PartialBackend::release_resident(data);
  }

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override {
    if (x.rows < options_.min_rows) {
      fallback().linear(x, weight, bias, y);
      return;
    }
    const auto packed =
        packed_.get(weight.data, kernels::view_bytes(weight), weight.rows, weight.cols, weight.ld,
                    [&] { return pack_weight(weight, runner_->shape()); });
    {
      // One set of device buffers: products take turns (the CPU keeps working meanwhile).
      const std::lock_guard lock(mutex_);
      tiled_linear(*runner_, x, *packed, bias, y);
    }
    const auto failure =
        check_linear_samples(x, weight, bias, {y.data, y.rows, y.cols, y.ld},
                             options_.check_samples, options_.check_tolerance, ++checks_);
    if (failure) throw DeviceError("NPU result check failed: " + *failure);
  }

 private:
  std::unique_ptr<TileRunner> runner_;
  NpuOptions options_;
  ResidentRanges resident_;
  ResidentCopies<PackedWeight> packed_{resident_};
  std::mutex mutex_;
  std::atomic<std::uint64_t> checks_{0};
};

}  // namespace

std::unique_ptr<kernels::Backend> make_npu_backend(std::unique_ptr<TileRunner> runner,
                                                   std::unique_ptr<kernels::Backend> cpu,
                                                   NpuOptions options) {
  return std::make_unique<NpuBackend>(std::move(runner), std::move(cpu), options);
}

void verify_runner(TileRunner& runner, double tolerance) {
  const auto shape = runner.shape();
  std::vector<std::uint16_t> a(static_cast<std::size_t>(shape.m) * shape.k);
  std::vector<std::uint16_t> b(static_cast<std::size_t>(shape.k) * shape.n);
  std::uint32_t state = 12345;
  const auto next = [&] {
    state = state * 1664525U + 1013904223U;
    return static_cast<float>(state >> 8) / static_cast<float>(1U << 24) * 2.0F - 1.0F;
  };
  for (auto& v : a) v = to_bf16(next());
  for (auto& v : b) v = to_bf16(next());
  std::vector<float> got(static_cast<std::size_t>(shape.m) * shape.n);
  std::vector<float> want(got.size());
  runner.run(a, b, got);
  make_reference_tile_runner(shape)->run(a, b, want);
  // The sums run over k products of values in [-1, 1]: compare relative to sqrt(k).
  const double scale = std::sqrt(static_cast<double>(shape.k));
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= tolerance * scale)) {
      throw DeviceError("the NPU kernel's test tile differs from the reference at element " +
                        std::to_string(i) + ": " + std::to_string(got[i]) + " instead of " +
                        std::to_string(want[i]) + " (wrong xclbin, instructions or tile shape?)");
    }
  }
}

}  // namespace amanuensis::backends::npu
