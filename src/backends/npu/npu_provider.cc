// The AMD XDNA NPU's provider: found through /dev/accel and XRT, used with a matmul kernel binary
// named by AMANUENSIS_NPU_XCLBIN. Each step that is missing is the reason given.
#include <filesystem>
#include <memory>

#include "backends/npu/npu_backend.h"
#include "backends/npu/npu_detect.h"
#include "backends/npu/xrt_runner.h"
#include "backends/provider.h"

namespace amanuensis::backends {

namespace {

class NpuProvider final : public BackendProvider {
 public:
  [[nodiscard]] std::string_view name() const override { return "npu"; }

  [[nodiscard]] ProbeResult probe() const override {
    ProbeResult result;
    const auto accel = npu::find_accel_devices();
    const npu::AccelDevice* xdna = nullptr;
    for (const auto& device : accel) {
      if (npu::is_xdna(device)) {
        xdna = &device;
        break;
      }
    }
    if (xdna == nullptr) {
      if (accel.empty()) {
        result.reason =
            "no /dev/accel/accel* device (no NPU here, or the amdxdna driver is not loaded)";
      } else {
        result.reason = "no AMD XDNA NPU among the /dev/accel devices (" + accel.front().node +
                        ": driver " +
                        (accel.front().driver.empty() ? "unknown" : accel.front().driver) + ")";
      }
      return result;
    }
    result.details = {{"name", npu::xdna_generation(*xdna)},
                      {"node", xdna->node},
                      {"driver", xdna->driver.empty() ? "unknown" : xdna->driver},
                      {"pci", xdna->pci_vendor + ":" + xdna->pci_device + " at " + xdna->pci_slot}};
    const auto xrt = npu::xrt_status();
    for (const auto& detail : xrt.details) result.details.push_back(detail);
    if (!xrt.built || xrt.devices == 0) {
      result.reason = npu::xdna_generation(*xdna) + " at " + xdna->node + ", but " + xrt.reason;
      return result;
    }
    const auto config = npu::npu_kernel_config_from_env();
    if (config.xclbin.empty()) {
      result.reason =
          "NPU ready, but no GEMM kernel binary: set AMANUENSIS_NPU_XCLBIN (and "
          "AMANUENSIS_NPU_INSTS, "
          "AMANUENSIS_NPU_TILE) to a bf16 matmul xclbin";
      return result;
    }
    if (!std::filesystem::is_regular_file(config.xclbin)) {
      result.reason = "AMANUENSIS_NPU_XCLBIN=" + config.xclbin.string() + ": no such file";
      return result;
    }
    const auto& t = config.tile;
    result.details.emplace_back("xclbin", config.xclbin.string());
    result.details.emplace_back(
        "tile", std::to_string(t.m) + "x" + std::to_string(t.k) + "x" + std::to_string(t.n));
    result.available = true;
    result.reason =
        npu::xdna_generation(*xdna) + " with kernel " + config.xclbin.filename().string();
    return result;
  }

  [[nodiscard]] std::unique_ptr<kernels::Backend> create(
      const BackendConfig& config) const override {
    if (config.device_index > 0) throw_no_such_device("NPU", config.device_index, 1);
    auto runner = npu::make_xrt_runner(npu::npu_kernel_config_from_env());
    const npu::NpuOptions options;
    npu::verify_runner(*runner, options.check_tolerance);
    return npu::make_npu_backend(std::move(runner), kernels::make_cpu_backend(config.threads),
                                 options);
  }

  // bfloat16 tiles: the self-test's products carry about 3 significant digits.
  [[nodiscard]] double self_test_tolerance() const override { return 2e-2; }
};

}  // namespace

std::unique_ptr<BackendProvider> make_npu_provider() { return std::make_unique<NpuProvider>(); }

}  // namespace amanuensis::backends
