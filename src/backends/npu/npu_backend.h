// The NPU backend: dense layers with many rows (the encoder's GEMMs: 1500 rows per window) go
// to the NPU tile by tile; everything else, and every product too small to pay for the trip,
// runs on the wrapped CPU backend. Every offloaded product is spot-checked; a failed check
// throws DeviceError, which makes the request fail over to the CPU.
#pragma once

#include <memory>

#include "backends/npu/gemm_tiling.h"
#include "kernels/backend.h"

namespace amanuensis::backends::npu {

struct NpuOptions {
  int min_rows = 64;              // products with fewer rows stay on the CPU (decoding)
  int check_samples = 16;         // outputs recomputed per offloaded product
  double check_tolerance = 2e-2;  // relative to the terms' magnitude; bfloat16 inputs
};

std::unique_ptr<kernels::Backend> make_npu_backend(std::unique_ptr<TileRunner> runner,
                                                   std::unique_ptr<kernels::Backend> cpu,
                                                   NpuOptions options);

// Runs one full random tile through `runner` and compares it with the CPU reference: the check
// at initialisation that the loaded kernel binary computes what we think it does. Throws
// DeviceError with what differed.
void verify_runner(TileRunner& runner, double tolerance);

}  // namespace amanuensis::backends::npu
