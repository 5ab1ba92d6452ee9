// Stands in for the OpenCL backend in builds configured with AMANUENSIS_WITH_OPENCL=OFF.
#include "backends/provider.h"

namespace amanuensis::backends {

std::unique_ptr<BackendProvider> make_opencl_provider() {
  return make_unbuilt_provider(
      "opencl",
      "configured with AMANUENSIS_WITH_OPENCL=OFF; needs ocl-icd-opencl-dev, "
      "opencl-headers and libclblast-dev");
}

}  // namespace amanuensis::backends
