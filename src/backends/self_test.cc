#include "backends/self_test.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

namespace amanuensis::backends {

namespace {

std::vector<float> pseudo_random(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t state = seed;
  for (auto& x : v) {
    state = state * 1664525U + 1013904223U;
    x = static_cast<float>(state >> 8) / static_cast<float>(1U << 24) * 2.0F - 1.0F;
  }
  return v;
}

// Largest |a - b| relative to the largest |b|; infinite when a holds a NaN or infinity.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double largest = 0.0;
  for (const float v : b) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  double error = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    error = std::max(error, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  return error / std::max(largest, 1e-30);
}

}  // namespace

SelfTestResult self_test(kernels::Backend& candidate, kernels::Backend& reference,
                         double tolerance) {
  using Op = std::function<std::vector<float>(kernels::Backend&)>;
  struct Check {
    const char* name;
    Op run;
  };
  // Odd sizes, so that no kernel gets away with assuming a multiple of its tile.
  const auto x = pseudo_random(7 * 33, 1);
  const auto w = pseudo_random(20 * 33, 2);
  const auto bias = pseudo_random(20, 3);
  const auto a = pseudo_random(5 * 12, 4);
  const auto b = pseudo_random(9 * 12, 5);
  const auto c0 = pseudo_random(5 * 9, 6);
  const auto scores = pseudo_random(6 * 10, 7);
  const Check checks[] = {
      {"linear 7x33 * (20x33)^T + bias",
       [&](kernels::Backend& backend) {
         std::vector<float> y(7 * 20);
         backend.linear({x.data(), 7, 33, 33}, {w.data(), 20, 33, 33}, bias, {y.data(), 7, 20, 20});
         return y;
       }},
      {"matmul 0.5 * 5x12 * (9x12)^T + 0.25 c",
       [&](kernels::Backend& backend) {
         auto c = c0;
         backend.matmul({a.data(), 5, 12, 12}, {b.data(), 9, 12, 12}, /*transpose_b=*/true, 0.5F,
                        0.25F, {c.data(), 5, 9, 9});
         return c;
       }},
      {"causal softmax 6x10",
       [&](kernels::Backend& backend) {
         auto s = scores;
         for (auto& v : s) v *= 4.0F;
         backend.softmax_rows({s.data(), 6, 10, 10}, /*causal_offset=*/2);
         return s;
       }},
  };
  SelfTestResult result;
  for (const auto& check : checks) {
    std::vector<float> got;
    try {
      got = check.run(candidate);
    } catch (const std::exception& e) {
      result.failure = std::string(check.name) + ": " + e.what();
      return result;
    }
    const double error = relative_error(got, check.run(reference));
    result.max_error = std::max(result.max_error, error);
    if (!(error <= tolerance)) {
      char message[160];
      std::snprintf(message, sizeof message, "%s: relative error %.3g exceeds %.3g", check.name,
                    error, tolerance);
      result.failure = message;
      return result;
    }
  }
  result.passed = true;
  return result;
}

}  // namespace amanuensis::backends
