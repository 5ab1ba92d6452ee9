// The CPU backend (src/kernels/cpu_backend.cc) as a provider: always available, the reference
// every other backend is checked against, and the fallback of every chain.
#include <algorithm>
#include <exception>
#include <memory>
#include <string>

#include "backends/provider.h"
#include "backends/system_info.h"
#include "kernels/backend.h"
#include "kernels/cpu_isa.h"

namespace amanuensis::backends {

namespace {

class CpuProvider final : public BackendProvider {
 public:
  [[nodiscard]] std::string_view name() const override { return "cpu"; }

  [[nodiscard]] ProbeResult probe() const override {
    ProbeResult result;
    result.available = true;
    result.reason = "reference backend, always available";
    result.details = {{"name", cpu_model_name()},
                      {"memory", format_bytes(total_memory_bytes())},
                      {"compute_units", std::to_string(logical_cores()) + " logical cores"},
                      {"cpu_paths", kernels::supported_cpu_isa_names()}};
    // Which path each kernel family runs with (AMANUENSIS_CPU_ISA can force a lower one).
    try {
      for (const auto& [family, path] : kernels::cpu_kernel_paths()) {
        std::string key = family;
        std::replace(key.begin(), key.end(), ' ', '_');
        result.details.emplace_back(key, path);
      }
    } catch (const std::exception& e) {  // OpenBLAS missing: creating the backend will say so
      result.details.emplace_back("kernels", e.what());
    }
    return result;
  }

  [[nodiscard]] std::unique_ptr<kernels::Backend> create(
      const BackendConfig& config) const override {
    return kernels::make_cpu_backend(config.threads);
  }
};

class UnbuiltProvider final : public BackendProvider {
 public:
  UnbuiltProvider(std::string name, std::string why)
      : name_(std::move(name)), why_(std::move(why)) {}

  [[nodiscard]] std::string_view name() const override { return name_; }

  [[nodiscard]] ProbeResult probe() const override {
    ProbeResult result;
    result.reason = "not built in (" + why_ + ")";
    return result;
  }

  [[nodiscard]] std::unique_ptr<kernels::Backend> create(const BackendConfig&) const override {
    throw DeviceError(name_ + " backend not built in (" + why_ + ")");
  }

 private:
  std::string name_;
  std::string why_;
};

}  // namespace

std::unique_ptr<BackendProvider> make_cpu_provider() { return std::make_unique<CpuProvider>(); }

std::unique_ptr<BackendProvider> make_unbuilt_provider(std::string name, std::string why) {
  return std::make_unique<UnbuiltProvider>(std::move(name), std::move(why));
}

}  // namespace amanuensis::backends
