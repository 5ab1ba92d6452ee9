// The CUDA backend's provider: NVIDIA GPUs through the CUDA runtime (linked statically; it finds
// the driver's libcuda.so.1 at run time, so binaries run, and report why, where there is none).
#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "backends/cuda/cublas_loader.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/provider.h"
#include "backends/system_info.h"

namespace amanuensis::backends {

namespace {

std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// The GPU with the most multiprocessors.
int best_device(int count) {
  int best = 0;
  int best_units = -1;
  for (int i = 0; i < count; ++i) {
    int units = 0;
    if (cudaDeviceGetAttribute(&units, cudaDevAttrMultiProcessorCount, i) == cudaSuccess &&
        units > best_units) {
      best = i;
      best_units = units;
    }
  }
  return best;
}

class CudaProvider final : public BackendProvider {
 public:
  [[nodiscard]] std::string_view name() const override { return "cuda"; }

  [[nodiscard]] ProbeResult probe() const override {
    ProbeResult result;
    int driver = 0;
    int runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
      if (driver == 0) {
        result.reason = "no NVIDIA driver (libcuda.so.1 not found)";
      } else if (status == cudaErrorNoDevice || count == 0) {
        result.reason = "no CUDA device";
      } else {
        result.reason = std::string("no CUDA device: ") + cudaGetErrorString(status) +
                        " (driver CUDA " + version_text(driver) + ", runtime " +
                        version_text(runtime) + ")";
      }
      return result;
    }
    const int device = best_device(count);
    cudaDeviceProp properties{};
    if (const auto error = cudaGetDeviceProperties(&properties, device); error != cudaSuccess) {
      result.reason = std::string("cannot query CUDA device ") + std::to_string(device) + ": " +
                      cudaGetErrorString(error);
      return result;
    }
    result.details = {{"name", properties.name},
                      {"memory", format_bytes(properties.totalGlobalMem)},
                      {"compute_units", std::to_string(properties.multiProcessorCount) + " SMs"},
                      {"compute_capability",
                       std::to_string(properties.major) + "." + std::to_string(properties.minor)},
                      {"driver", "CUDA " + version_text(driver)},
                      {"runtime", "CUDA " + version_text(runtime)},
                      {"devices", std::to_string(count)}};
    cudaSetDevice(device);
    if (const auto error = cuda::kernels_loadable(); error != cudaSuccess) {
      result.reason =
          "this build's kernels do not run on compute capability " +
          std::to_string(properties.major) + "." + std::to_string(properties.minor) +
          " (rebuild with -DAMANUENSIS_CUDA_ARCHITECTURES=" + std::to_string(properties.major) +
          std::to_string(properties.minor) + "): " + cudaGetErrorString(error);
      return result;
    }
    result.available = true;
    result.reason = std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") + "; using " +
                    properties.name;
    return result;
  }

  [[nodiscard]] std::unique_ptr<kernels::Backend> create(
      const BackendConfig& config) const override {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
      throw DeviceError("no CUDA device");
    if (config.device_index >= count) throw_no_such_device("CUDA", config.device_index, count);
    cuda::cublas();  // throws with the library's name when cuBLAS is missing
    const int device = config.device_index >= 0 ? config.device_index : best_device(count);
    return cuda::make_cuda_backend(device, cuda::precision_for(config.compute_type));
  }

  // Float16/bfloat16 GEMMs carry 3 significant digits; float32 ones pass 1e-4 easily.
  [[nodiscard]] double self_test_tolerance() const override { return 1e-2; }
};

}  // namespace

std::unique_ptr<BackendProvider> make_cuda_provider() { return std::make_unique<CudaProvider>(); }

}  // namespace amanuensis::backends
