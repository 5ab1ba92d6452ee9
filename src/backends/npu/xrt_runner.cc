#include "backends/npu/xrt_runner.h"

#include <experimental/xrt_system.h>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>

#include "backends/provider.h"

namespace amanuensis::backends::npu {

namespace {

// mlir-aie's matmul designs take opcode 3 ("run the instruction sequence") as argument 0.
constexpr unsigned int kOpcode = 3;
constexpr std::chrono::milliseconds kTimeout{10000};

class XrtTileRunner final : public TileRunner {
 public:
  explicit XrtTileRunner(const NpuKernelConfig& config) : config_(config) {
    if (config.xclbin.empty())
      throw DeviceError("AMANUENSIS_NPU_XCLBIN is not set: no NPU kernel binary to load");
    try {
      device_ = xrt::device(0U);
      const auto uuid = device_.load_xclbin(config.xclbin.string());
      kernel_ = xrt::kernel(device_, uuid, config.kernel_name);
      if (!config.instructions.empty()) instructions_ = read_instructions(config.instructions);
      const auto& t = config.tile;
      instruction_bo_ =
          xrt::bo(device_, std::max<std::size_t>(instructions_.size(), 1) * sizeof(std::uint32_t),
                  xrt::bo::flags::cacheable, kernel_.group_id(1));
      a_ = xrt::bo(device_, static_cast<std::size_t>(t.m) * t.k * 2, xrt::bo::flags::host_only,
                   kernel_.group_id(3));
      b_ = xrt::bo(device_, static_cast<std::size_t>(t.k) * t.n * 2, xrt::bo::flags::host_only,
                   kernel_.group_id(4));
      c_ = xrt::bo(device_, static_cast<std::size_t>(t.m) * t.n * 4, xrt::bo::flags::host_only,
                   kernel_.group_id(5));
      if (!instructions_.empty()) {
        std::memcpy(instruction_bo_.map<void*>(), instructions_.data(),
                    instructions_.size() * sizeof(std::uint32_t));
      }
      instruction_bo_.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      name_ = device_.get_info<xrt::info::device::name>();
    } catch (const DeviceError&) {
      throw;
    } catch (const std::exception& e) {
      throw DeviceError(std::string("XRT: ") + e.what());
    }
  }

  [[nodiscard]] TileShape shape() const override { return config_.tile; }

  [[nodiscard]] std::string describe() const override {
    const auto& t = config_.tile;
    return name_ + " " + config_.xclbin.filename().string() + " (" + config_.kernel_name +
           ", bf16 tiles " + std::to_string(t.m) + "x" + std::to_string(t.k) + "x" +
           std::to_string(t.n) + ")";
  }

  void run(std::span<const std::uint16_t> a, std::span<const std::uint16_t> b,
           std::span<float> c) override {
    const std::lock_guard lock(mutex_);
    try {
      std::memcpy(a_.map<void*>(), a.data(), a.size_bytes());
      std::memcpy(b_.map<void*>(), b.data(), b.size_bytes());
      a_.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      b_.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      auto run = kernel_(kOpcode, instruction_bo_, static_cast<unsigned int>(instructions_.size()),
                         a_, b_, c_);
      const auto state = run.wait(kTimeout);
      if (state != ERT_CMD_STATE_COMPLETED) {
        throw DeviceError("XRT kernel run ended in state " +
                          std::to_string(static_cast<int>(state)) +
                          (state == ERT_CMD_STATE_TIMEOUT ? " (timeout)" : ""));
      }
      c_.sync(XCL_BO_SYNC_BO_FROM_DEVICE);
      std::memcpy(c.data(), c_.map<const void*>(), c.size_bytes());
    } catch (const DeviceError&) {
      throw;
    } catch (const std::exception& e) {
      throw DeviceError(std::string("XRT: ") + e.what());
    }
  }

 private:
  NpuKernelConfig config_;
  xrt::device device_;
  xrt::kernel kernel_;
  std::vector<std::uint32_t> instructions_;
  xrt::bo instruction_bo_, a_, b_, c_;
  std::string name_;
  std::mutex mutex_;
};

}  // namespace

XrtStatus xrt_status() {
  XrtStatus status;
  status.built = true;
  try {
    status.devices = xrt::system::enumerate_devices();
    if (status.devices == 0) {
      status.reason =
          "XRT enumerates no device (the XDNA driver plugin, XRT 2.17+ with xrt_plugin-amdxdna, "
          "is needed for NPUs)";
      return status;
    }
    const xrt::device device(0U);
    status.details.emplace_back("xrt_name", device.get_info<xrt::info::device::name>());
    status.details.emplace_back("xrt_bdf", device.get_info<xrt::info::device::bdf>());
  } catch (const std::exception& e) {
    status.reason = std::string("XRT cannot enumerate devices: ") + e.what();
  }
  return status;
}

std::unique_ptr<TileRunner> make_xrt_runner(const NpuKernelConfig& config) {
  return std::make_unique<XrtTileRunner>(config);
}

}  // namespace amanuensis::backends::npu
