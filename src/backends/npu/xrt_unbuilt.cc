// Stands in for the XRT runner in builds configured with AMANUENSIS_WITH_XRT=OFF: NPUs are still
// detected, but cannot be used.
#include "backends/npu/xrt_runner.h"
#include "backends/provider.h"

namespace amanuensis::backends::npu {

namespace {
constexpr const char* kWhy =
    "XRT support not built in (configured with AMANUENSIS_WITH_XRT=OFF; needs libxrt-dev)";
}  // namespace

XrtStatus xrt_status() { return {.built = false, .devices = 0, .reason = kWhy, .details = {}}; }

std::unique_ptr<TileRunner> make_xrt_runner(const NpuKernelConfig&) { throw DeviceError(kWhy); }

}  // namespace amanuensis::backends::npu
