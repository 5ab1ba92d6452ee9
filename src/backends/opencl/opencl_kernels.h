// OpenCL C source of our own kernels (layer norm, GELU, softmax, add, bias rows, int8 products);
// matrix products go to CLBlast. Built once per backend with clBuildProgram.
#pragma once

namespace amanuensis::backends::opencl {

extern const char* const kKernelSource;

// Work-group size of the row kernels (one group per row); the source assumes a power of two.
inline constexpr int kRowGroupSize = 64;

}  // namespace amanuensis::backends::opencl
