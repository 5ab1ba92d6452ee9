// Normally distributed test data, reproducible from a seed.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace amanuensis::test_support {

inline std::vector<float> random_values(std::size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0F, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace amanuensis::test_support
