// The fixture of the backend op tests (backends_ops_test.cc, backends_residency_test.cc): each
// backend by name, with the CPU backend as the reference and the tolerances of its case.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends/npu/gemm_tiling.h"
#include "backends/npu/npu_backend.h"
#include "backends/registry.h"
#include "features/log_mel.h"
#include "kernels/backend.h"
#include "kernels/int8_gemm.h"
#include "kernels/partial_backend.h"
#include "support/random_values.h"

namespace amanuensis::backends::ops_test {

using kernels::AttentionProblem;
using kernels::MatrixView;
using kernels::MutableMatrixView;

using amanuensis::test_support::random_values;

struct Case {
  std::string name;
  double product_tolerance;
  double elementwise_tolerance;
};

// How gtest names a case in listings and ctest (instead of its bytes).
inline void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

inline std::unique_ptr<kernels::Backend> from_provider(
    const std::string& name, std::string& skip, const std::string& compute_type = "default") {
  for (const auto& provider : providers()) {
    if (provider->name() != name) continue;
    const auto probe = provider->probe();
    if (!probe.available) {
      skip = name + " unavailable here: " + probe.reason;
      return nullptr;
    }
    return provider->create({.threads = 2, .compute_type = compute_type});
  }
  skip = "no provider named " + name;
  return nullptr;
}

inline std::unique_ptr<kernels::Backend> make_backend(const std::string& name, std::string& skip) {
  if (name == "npu-emulated") {
    return npu::make_npu_backend(npu::make_reference_tile_runner({32, 64, 48}),
                                 kernels::make_cpu_backend(1),
                                 {.min_rows = 1, .check_samples = 16, .check_tolerance = 2e-2});
  }
  if (name == "cuda-fp16") return from_provider("cuda", skip, "float16");
  return from_provider(name, skip);
}

class OpsTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::string skip;
    backend_ = make_backend(GetParam().name, skip);
    if (!backend_) GTEST_SKIP() << skip;
    reference_ = kernels::make_cpu_backend(1);
  }

  // |got - want| <= tolerance * magnitude + floor, element by element.
  // Whether the backend under test runs int8 products on a device of its own, which quantises
  // activations to 8 bits, while this CPU's path takes 7 (avx2, kernels/int8_gemm.h).
  [[nodiscard]] bool quantises_in_8_bits() const {
    return GetParam().name != "cpu" && backend_->supports(kernels::Op::kLinearInt8) &&
           kernels::activation_form(kernels::cpu_isa()) == kernels::ActivationForm::kBiased7;
  }

  static void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                           const std::vector<double>& magnitude, double tolerance, double floor,
                           const std::string& what) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tolerance * magnitude[i] + floor) << what << " at " << i;
    }
  }

  void expect_elementwise(const std::vector<float>& got, const std::vector<float>& want,
                          const std::string& what) {
    std::vector<double> magnitude(want.size());
    for (std::size_t i = 0; i < want.size(); ++i) magnitude[i] = std::fabs(want[i]);
    const double tolerance = GetParam().elementwise_tolerance;
    expect_close(got, want, magnitude, tolerance, tolerance == 0.0 ? 0.0 : 1e-6, what);
  }

  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<kernels::Backend> reference_;
};

}  // namespace amanuensis::backends::ops_test
