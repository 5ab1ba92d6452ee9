// Runs a check once per Highway instruction set this machine runs (vector_ops.h), then restores
// the best: how the float kernels' tests cover every target the build holds.
#pragma once

#include <gtest/gtest.h>

#include "kernels/vector_ops.h"

namespace amanuensis::test_support {

template <typename Check>
void for_each_vector_target(Check check) {
  const auto targets = kernels::vector_ops_available_targets();
  ASSERT_FALSE(targets.empty());
  for (const auto target : targets) {
    kernels::vector_ops_force_target(target);
    SCOPED_TRACE(kernels::vector_ops_target());
    check();
  }
  kernels::vector_ops_force_target(0);
}

}  // namespace amanuensis::test_support
