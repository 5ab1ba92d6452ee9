// The check a backend passes before it is chosen: a tiny dense layer, a matrix product and a
// causal softmax, compared with the CPU backend. It catches a device that initialises but
// computes garbage (a broken driver, a wrong kernel binary), which the service we replaced
// shipped as "NPU mode" and printed as garbled text.
#pragma once

#include <string>

#include "kernels/backend.h"

namespace amanuensis::backends {

struct SelfTestResult {
  bool passed = false;
  // Largest |candidate - reference| of any op, relative to the largest |reference| of that op.
  double max_error = 0.0;
  std::string failure;  // what failed, when !passed
};

// Runs the self-test on `candidate` with `reference` (a CPU backend) computing the expected
// values. Exceptions from the candidate are caught and reported as a failure.
SelfTestResult self_test(kernels::Backend& candidate, kernels::Backend& reference,
                         double tolerance);

}  // namespace amanuensis::backends
