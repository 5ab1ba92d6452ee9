// Stands in for the CUDA backend in builds configured with AMANUENSIS_WITH_CUDA=OFF.
#include "backends/provider.h"

namespace amanuensis::backends {

std::unique_ptr<BackendProvider> make_cuda_provider() {
  return make_unbuilt_provider(
      "cuda",
      "configured with AMANUENSIS_WITH_CUDA=OFF; needs the CUDA toolkit's nvcc, "
      "cudart and cuBLAS");
}

}  // namespace amanuensis::backends
