// linear_few_rows (float_gemm_rows.h): every tile shape against a double-precision loop on every
// Highway target this machine runs, and each output independent of the rows and columns beside it.
#include "kernels/float_gemm_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "support/random_values.h"
#include "support/vector_targets.h"

namespace amanuensis::kernels {
namespace {

using test_support::for_each_vector_target;
using test_support::random_values;

struct Problem {
  int m, n, k;
  std::vector<float> x, w, bias;
  int ldx, ldw, ldy;

  Problem(int rows, int cols, int depth, unsigned seed)
      : m(rows), n(cols), k(depth), ldx(depth + 3), ldw(depth + 5), ldy(cols + 2) {
    x = random_values(static_cast<std::size_t>(m) * ldx, 1.0F, seed);
    w = random_values(static_cast<std::size_t>(n) * ldw, 0.1F, seed + 1);
    bias = random_values(static_cast<std::size_t>(n), 0.5F, seed + 2);
  }
  // y for rows [r0, r1) and columns [c0, c1), into the whole [m, ldy] output (sentinel elsewhere).
  void run(std::vector<float>& y, bool with_bias, int r0, int r1, int c0, int c1) const {
    linear_few_rows(x.data() + static_cast<std::size_t>(r0) * ldx, r1 - r0, ldx,
                    w.data() + static_cast<std::size_t>(c0) * ldw, c1 - c0, ldw, k,
                    with_bias ? bias.data() + c0 : nullptr,
                    y.data() + static_cast<std::size_t>(r0) * ldy + c0, ldy);
  }
};

constexpr float kSentinel = -12345.0F;

TEST(FloatGemmRows, MatchesDoubleReferenceOnEveryTarget) {
  for_each_vector_target([] {
    for (const int m : {1, 2, 3, 4, 5, 6, 7, 16}) {
      for (const int n : {1, 2, 3, 4, 5, 6, 9, 37}) {
        for (const int k : {1, 7, 16, 64, 515}) {
          for (const bool with_bias : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << "m " << m << " n " << n << " k " << k << " bias " << with_bias);
            const Problem p(m, n, k, static_cast<unsigned>(m * 1000 + n * 10 + k));
            std::vector<float> y(static_cast<std::size_t>(m) * p.ldy, kSentinel);
            p.run(y, with_bias, 0, m, 0, n);
            for (int r = 0; r < m; ++r) {
              for (int c = 0; c < p.ldy; ++c) {
                const float got = y[static_cast<std::size_t>(r) * p.ldy + c];
                if (c >= n) {  // the stride's padding stays untouched
                  ASSERT_EQ(got, kSentinel) << r << "," << c;
                  continue;
                }
                double want = with_bias ? p.bias[c] : 0.0;
                double magnitude = std::fabs(want);
                for (int i = 0; i < k; ++i) {
                  const double term = static_cast<double>(p.x[r * p.ldx + i]) * p.w[c * p.ldw + i];
                  want += term;
                  magnitude += std::fabs(term);
                }
                ASSERT_NEAR(got, want, 1e-5 * magnitude + 1e-6) << r << "," << c;
              }
            }
          }
        }
      }
    }
  });
}

// What cross-request batching relies on: a row's outputs are the same bits whether it is
// multiplied alone or with other requests' rows, and whatever column blocks the threads take.
TEST(FloatGemmRows, OutputsDoNotDependOnTheOtherRowsOrTheColumnSplit) {
  for_each_vector_target([] {
    const Problem p(7, 37, 515, 7);
    std::vector<float> whole(static_cast<std::size_t>(p.m) * p.ldy, kSentinel);
    p.run(whole, true, 0, p.m, 0, p.n);
    std::vector<float> parts(whole.size(), kSentinel);
    for (int r = 0; r < p.m; ++r) {
      const int r1 = r + 1;
      p.run(parts, true, r, r1, 0, 13);
      p.run(parts, true, r, r1, 13, 14);
      p.run(parts, true, r, r1, 14, p.n);
    }
    EXPECT_EQ(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)), 0);
  });
}

}  // namespace
}  // namespace amanuensis::kernels
