#include "backends/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>

#include "backends/provider.h"

namespace amanuensis::backends::cuda {

namespace {

template <typename Function>
void resolve(void* library, const char* symbol, Function& out) {
  void* address = dlsym(library, symbol);
  if (address == nullptr) throw DeviceError(std::string("cuBLAS lacks ") + symbol);
  out = reinterpret_cast<Function>(address);
}

Cublas load() {
  const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  Cublas api;
  void* library = nullptr;
  for (const auto& name : {versioned, std::string("/usr/local/cuda/lib64/") + versioned}) {
    library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) {
      api.library = name;
      break;
    }
  }
  if (library == nullptr) {
    throw DeviceError("cannot open " + versioned + " (cuBLAS of CUDA " +
                      std::to_string(CUBLAS_VER_MAJOR) + "): " + dlerror());
  }
  // Never closed: cuBLAS must outlive every handle, and the process ends soon enough.
  resolve(library, "cublasCreate_v2", api.create);
  resolve(library, "cublasDestroy_v2", api.destroy);
  resolve(library, "cublasSetStream_v2", api.set_stream);
  resolve(library, "cublasSgemm_v2", api.sgemm);
  resolve(library, "cublasGemmEx", api.gemm_ex);
  return api;
}

}  // namespace

const Cublas& cublas() {
  static std::once_flag once;
  static Cublas api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load();
    } catch (const DeviceError& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw DeviceError(error);
  return api;
}

}  // namespace amanuensis::backends::cuda
