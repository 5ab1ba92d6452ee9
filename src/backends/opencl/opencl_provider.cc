// The OpenCL backend's provider: any OpenCL 1.2 device through the ICD loader (a GPU driver, or
// PoCL on the CPU), CLBlast for the products.
#include <memory>

#include "backends/opencl/opencl_backend.h"
#include "backends/opencl/opencl_runtime.h"
#include "backends/provider.h"
#include "backends/system_info.h"

namespace amanuensis::backends {

namespace {

class OpenClProvider final : public BackendProvider {
 public:
  [[nodiscard]] std::string_view name() const override { return "opencl"; }

  [[nodiscard]] ProbeResult probe() const override {
    ProbeResult result;
    const auto devices = opencl::list_devices();
    const auto device = opencl::preferred_device(devices);
    if (!device) {
      result.reason =
          "no OpenCL device (no platform installed: a GPU driver's ICD, or pocl-opencl-icd)";
      return result;
    }
    result.available = true;
    result.reason = std::to_string(devices.size()) + " OpenCL device" +
                    (devices.size() == 1 ? "" : "s") + "; using " + device->name;
    result.details = {{"name", device->name},
                      {"type", opencl::type_name(device->type)},
                      {"platform", device->platform_name},
                      {"memory", format_bytes(device->global_memory)},
                      {"compute_units", std::to_string(device->compute_units)},
                      {"driver", device->driver_version},
                      {"version", device->version}};
    if (opencl::type_name(device->type) == "cpu") {
      result.auto_skip_reason =
          "its device is the CPU (" + device->platform_name +
          "), where the native cpu backend is faster; --device opencl uses it anyway";
    }
    return result;
  }

  [[nodiscard]] std::unique_ptr<kernels::Backend> create(
      const BackendConfig& config) const override {
    const auto devices = opencl::list_devices();
    if (config.device_index >= 0) {
      if (config.device_index >= static_cast<int>(devices.size())) {
        throw_no_such_device("OpenCL", config.device_index, static_cast<int>(devices.size()));
      }
      return opencl::make_opencl_backend(devices[static_cast<std::size_t>(config.device_index)]);
    }
    const auto device = opencl::preferred_device(devices);
    if (!device) throw DeviceError("no OpenCL device");
    return opencl::make_opencl_backend(*device);
  }
};

}  // namespace

std::unique_ptr<BackendProvider> make_opencl_provider() {
  return std::make_unique<OpenClProvider>();
}

}  // namespace amanuensis::backends
