// The int8 paths' integer dot products, exactly, against the generic path's, and the ARM64 choice
// of path. kernels_test.cc checks every path's outputs bit for bit against the scalar reference;
// here the scales are 1 and there is no bias, so each output is float(dot) itself (exact: every
// |dot| here stays below 2^24), and any difference in a kernel's integer arithmetic shows. Under
// qemu-aarch64 -cpu max (tests/aarch64/qemu_test.sh) that covers neon, neon_dotprod and neon_i8mm;
// on x86-64 avx2, avx_vnni and avx512, as far as the CPU runs them.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/int8_gemm.h"
#include "kernels/vector_ops.h"

namespace amanuensis::kernels {
namespace {

// Shapes: one row (decoding) and row counts that are no multiple of any tile height (2, 4, 5, 6
// or 8 rows); k that is no multiple of 8 or 16 (odd groups of 4, the kernels' tails); channel
// counts that are no multiple of 16.
struct Shape {
  int m, n, k;
};
constexpr Shape kShapes[] = {{1, 16, 4},  {1, 51, 70},   {2, 33, 12},     {3, 100, 512},
                             {5, 64, 36}, {7, 37, 515},  {13, 160, 1028}, {96, 80, 240},
                             {9, 17, 8},  {11, 48, 1020}};

// Integers in [-top, top], each row with a -top so that quantisation to [-top, top] keeps them
// as they are (scale 1). `extreme`: every value +-top, the largest dot products.
std::vector<float> integer_rows(int rows, int cols, unsigned seed, bool extreme, int top = 127) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> value(-top, top);
  std::vector<float> v(static_cast<std::size_t>(rows) * cols);
  for (auto& x : v) {
    const int q = value(random);
    x = static_cast<float>(extreme ? (q < 0 ? -top : top) : q);
  }
  for (int r = 0; r < rows; ++r) {
    v[static_cast<std::size_t>(r) * cols + r % cols] = static_cast<float>(-top);
  }
  return v;
}

// The product on `isa`, activations quantised for it.
std::vector<float> product(CpuIsa isa, const std::vector<float>& x, const Int8Matrix& w,
                           const Shape& s) {
  QuantizedRows a;
  quantize_rows(isa, x.data(), s.m, s.k, s.k, w, a);
  std::vector<float> y(static_cast<std::size_t>(s.m) * s.n, -7.0F);
  int8_gemm(isa, a, 0, s.m, w, 0, w.padded_rows, nullptr, y.data(), s.n);
  return y;
}

void check_exact(CpuIsa isa, const Shape& s, bool extreme) {
  SCOPED_TRACE(testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k
                                  << (extreme ? " extreme" : ""));
  // avx2 quantises activations to [-63, 63] (int8_gemm.h): its integers stay within that; the
  // portable path then scales them to [-127, 127], and is compared only where they are the same.
  const int top = activation_form(isa) == ActivationForm::kBiased7 ? 63 : 127;
  const auto wf = integer_rows(s.n, s.k, 11, extreme);
  const auto x = integer_rows(s.m, s.k, 12, extreme, top);
  const auto w = quantize_int8(wf.data(), s.n, s.k, s.k);
  const auto generic = product(CpuIsa::kGeneric, x, w, s);
  const auto got = product(isa, x, w, s);
  for (int r = 0; r < s.m; ++r) {
    for (int n = 0; n < s.n; ++n) {
      std::int64_t dot = 0;
      for (int i = 0; i < s.k; ++i) {
        dot += static_cast<std::int64_t>(x[static_cast<std::size_t>(r) * s.k + i]) *
               static_cast<std::int64_t>(wf[static_cast<std::size_t>(n) * s.k + i]);
      }
      ASSERT_LT(dot < 0 ? -dot : dot, std::int64_t{1} << 24);
      const std::size_t i = static_cast<std::size_t>(r) * s.n + n;
      if (top == 127) {
        ASSERT_EQ(generic[i], static_cast<float>(dot)) << "generic, row " << r << " channel " << n;
      }
      ASSERT_EQ(got[i], static_cast<float>(dot)) << "row " << r << " channel " << n;
    }
  }
}

class Int8ExactTest : public ::testing::TestWithParam<CpuIsa> {};

TEST_P(Int8ExactTest, IntegerDotProductsEqualTheGenericPath) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << cpu_isa_name(isa) << ": this CPU cannot run it";
  for (const auto& s : kShapes) {
    check_exact(isa, s, false);
    check_exact(isa, s, true);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, Int8ExactTest,
                         ::testing::ValuesIn(all_cpu_isas().begin(), all_cpu_isas().end()),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

// Every AArch64 CPU runs neon, and the best path is chosen unless one is forced; off ARM the
// build has no ARM path.
TEST(CpuIsaArm, PathsFollowTheCpu) {
#if defined(__aarch64__)
  EXPECT_TRUE(cpu_supports(CpuIsa::kNeon));
  if (std::getenv("AMANUENSIS_CPU_ISA") == nullptr) {
    const CpuIsa best = cpu_supports(CpuIsa::kNeonI8mm)      ? CpuIsa::kNeonI8mm
                        : cpu_supports(CpuIsa::kNeonDotprod) ? CpuIsa::kNeonDotprod
                                                             : CpuIsa::kNeon;
    EXPECT_EQ(cpu_isa_name(cpu_isa()), cpu_isa_name(best));
  }
#else
  for (const auto isa : {CpuIsa::kNeon, CpuIsa::kNeonDotprod, CpuIsa::kNeonI8mm}) {
    EXPECT_FALSE(cpu_supports(isa)) << cpu_isa_name(isa);
    EXPECT_EQ(parse_cpu_isa(cpu_isa_name(isa)), std::nullopt) << cpu_isa_name(isa);
  }
#endif
}

// AMANUENSIS_CPU_ISA, when set, is the path in use (the qemu test forces each ARM path in turn
// and requires -cpu max to run them all).
TEST(CpuIsaArm, ForcedPathIsTaken) {
  const char* forced = std::getenv("AMANUENSIS_CPU_ISA");
  if (forced == nullptr) GTEST_SKIP() << "AMANUENSIS_CPU_ISA is not set";
  EXPECT_EQ(cpu_isa_name(cpu_isa()), forced);
}

// Prints the Highway targets this CPU runs, each of which kernels_test.cc's vector-op and
// attention tests force in turn (under qemu -cpu max: NEON, SVE and SVE2), so that the log shows
// which targets were checked.
TEST(VectorTargets, ListsTheTargetsThisCpuRuns) {
  std::string names;
  for (const auto target : vector_ops_available_targets()) {
    vector_ops_force_target(target);
    names += std::string(names.empty() ? "" : " ") + vector_ops_target();
  }
  vector_ops_force_target(0);
  std::cout << "vector ops targets: " << names << "\n";
  EXPECT_FALSE(names.empty());
}

}  // namespace
}  // namespace amanuensis::kernels
