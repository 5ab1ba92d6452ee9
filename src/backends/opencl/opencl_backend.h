// The OpenCL backend: CLBlast for the matrix products, our kernels (opencl_kernels.cc) for the
// rest. Every op copies its inputs to the device, runs, and copies the result back; weights are
// uploaded once and cached. One in-order queue: ops of concurrent requests take turns.
#pragma once

#include <memory>

#include "backends/opencl/opencl_runtime.h"
#include "kernels/backend.h"

namespace amanuensis::backends::opencl {

// Creates the context, queue and program on `device`; throws DeviceError when it cannot.
std::unique_ptr<kernels::Backend> make_opencl_backend(const DeviceInfo& device);

}  // namespace amanuensis::backends::opencl
