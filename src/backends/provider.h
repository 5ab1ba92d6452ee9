// One compute device as the registry sees it: how to find out whether it can run here, and how
// to make a kernels::Backend on it. Each device folder (cpu, opencl/, cuda/, npu/) supplies one
// provider through a make_*_provider() function; a device whose toolkit was missing at configure
// time supplies an "unbuilt" provider instead, so every backend is always listed and nothing
// outside src/backends/ needs to know which ones were compiled.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/backend.h"

namespace amanuensis::backends {

// Name/value pairs describing a device, in display order: name, memory, compute units, driver.
using Details = std::vector<std::pair<std::string, std::string>>;

// What a device's kernels or runtime throw when the device itself fails (an OpenCL or CUDA
// error, a lost device, a result that fails its check). The failover wrapper catches any
// exception from a device backend; this type only makes the message say which device it was.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProbeResult {
  bool available = false;
  // Why it is or is not usable, in words: "no /dev/accel/accel* device", "1 OpenCL device".
  std::string reason;
  Details details;
  // Set when the device works but `auto` should not pick it because another backend does the
  // same work faster (a CPU OpenCL device such as PoCL's, say); an explicit --device still can.
  std::string auto_skip_reason;
};

// What a backend is created for.
struct BackendConfig {
  int threads = 1;                       // host threads (the CPU backend and CPU fallbacks)
  std::string compute_type = "default";  // ModelOptions::compute_type, e.g. "float16"
  // Which of the backend's devices (ModelOptions::device_index): -1 lets the provider choose;
  // a provider without that many devices throws DeviceError naming the index.
  int device_index = -1;
};

// The DeviceError for a device index a provider does not have.
[[noreturn]] void throw_no_such_device(std::string_view backend, int index, int count);

class BackendProvider {
 public:
  virtual ~BackendProvider() = default;

  // "cpu", "cuda", "opencl", "npu": what --device names.
  [[nodiscard]] virtual std::string_view name() const = 0;

  // Cheap detection: no kernels are compiled and no device memory is taken.
  [[nodiscard]] virtual ProbeResult probe() const = 0;

  // Initialises the device; throws (DeviceError or any std::exception) when it cannot.
  [[nodiscard]] virtual std::unique_ptr<kernels::Backend> create(
      const BackendConfig& config) const = 0;

  // Largest error allowed in the selection self-test against the CPU backend, relative to the
  // size of the values compared (float32 devices 1e-4; bfloat16 ones need more).
  [[nodiscard]] virtual double self_test_tolerance() const { return 1e-4; }
};

std::unique_ptr<BackendProvider> make_cpu_provider();
std::unique_ptr<BackendProvider> make_opencl_provider();
std::unique_ptr<BackendProvider> make_cuda_provider();
std::unique_ptr<BackendProvider> make_npu_provider();

// A provider for a backend left out of this build: always unavailable, with reason
// "not built in (<why>)".
std::unique_ptr<BackendProvider> make_unbuilt_provider(std::string name, std::string why);

}  // namespace amanuensis::backends
