// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/float_gemm_rows.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cstddef>

#include "kernels/float_gemm_rows.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
// Highway's own naming inside its per-target namespace (CamelCase functions, tag `d`).
// NOLINTBEGIN(readability-identifier-naming)
namespace amanuensis::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// What one output's sum becomes after its vector part: the lanes summed, the k % lanes tail
// added in order, then the bias. Every tile shape ends each output this way.
template <class D, class V>
HWY_INLINE float Finish(D d, V acc, const float* HWY_RESTRICT x, const float* HWY_RESTRICT w,
                        int from, int k, float bias) {
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (int i = from; i < k; ++i) sum += x[i] * w[i];
  return sum + bias;
}

// y[r, c] for R rows of x (R <= 3) and C rows of w (C = 2 or 4; R * C <= 8): each weight vector
// is loaded once for the R rows. Accumulators are named, not an array: SVE's vectors have no
// size, and cannot be array elements.
template <int R, int C, class D>
HWY_INLINE void Tile(D d, const float* HWY_RESTRICT x, std::ptrdiff_t ldx,
                     const float* HWY_RESTRICT w, std::ptrdiff_t ldw, int k,
                     const float* HWY_RESTRICT bias, float* HWY_RESTRICT y, std::ptrdiff_t ldy) {
  static_assert(R >= 1 && R <= 3 && (C == 2 || C == 4) && R * C <= 8);
  const auto lanes = static_cast<int>(hn::Lanes(d));
  const int end = k - k % lanes;
  auto a00 = hn::Zero(d), a01 = hn::Zero(d), a02 = hn::Zero(d), a03 = hn::Zero(d);
  auto a10 = hn::Zero(d), a11 = hn::Zero(d), a12 = hn::Zero(d), a13 = hn::Zero(d);
  auto a20 = hn::Zero(d), a21 = hn::Zero(d);
  const float* w0 = w;
  const float* w1 = w + ldw;
  const float* w2 = C == 4 ? w + 2 * ldw : w1;
  const float* w3 = C == 4 ? w + 3 * ldw : w1;
  for (int i = 0; i < end; i += lanes) {
    const auto v0 = hn::LoadU(d, w0 + i);
    const auto v1 = hn::LoadU(d, w1 + i);
    const auto v2 = C == 4 ? hn::LoadU(d, w2 + i) : v1;
    const auto v3 = C == 4 ? hn::LoadU(d, w3 + i) : v1;
    const auto x0 = hn::LoadU(d, x + i);
    a00 = hn::MulAdd(x0, v0, a00);
    a01 = hn::MulAdd(x0, v1, a01);
    if constexpr (C == 4) {
      a02 = hn::MulAdd(x0, v2, a02);
      a03 = hn::MulAdd(x0, v3, a03);
    }
    if constexpr (R > 1) {
      const auto x1 = hn::LoadU(d, x + ldx + i);
      a10 = hn::MulAdd(x1, v0, a10);
      a11 = hn::MulAdd(x1, v1, a11);
      if constexpr (C == 4) {
        a12 = hn::MulAdd(x1, v2, a12);
        a13 = hn::MulAdd(x1, v3, a13);
      }
    }
    if constexpr (R > 2) {
      const auto x2 = hn::LoadU(d, x + 2 * ldx + i);
      a20 = hn::MulAdd(x2, v0, a20);
      a21 = hn::MulAdd(x2, v1, a21);
    }
  }
  const auto b = [&](int c) { return bias == nullptr ? 0.0F : bias[c]; };
  y[0] = Finish(d, a00, x, w0, end, k, b(0));
  y[1] = Finish(d, a01, x, w1, end, k, b(1));
  if constexpr (C == 4) {
    y[2] = Finish(d, a02, x, w2, end, k, b(2));
    y[3] = Finish(d, a03, x, w3, end, k, b(3));
  }
  if constexpr (R > 1) {
    y[ldy] = Finish(d, a10, x + ldx, w0, end, k, b(0));
    y[ldy + 1] = Finish(d, a11, x + ldx, w1, end, k, b(1));
    if constexpr (C == 4) {
      y[ldy + 2] = Finish(d, a12, x + ldx, w2, end, k, b(2));
      y[ldy + 3] = Finish(d, a13, x + ldx, w3, end, k, b(3));
    }
  }
  if constexpr (R > 2) {
    y[2 * ldy] = Finish(d, a20, x + 2 * ldx, w0, end, k, b(0));
    y[2 * ldy + 1] = Finish(d, a21, x + 2 * ldx, w1, end, k, b(1));
  }
}

// One output column for every row (the last column of an odd n).
template <class D>
HWY_INLINE void Column(D d, const float* HWY_RESTRICT x, std::ptrdiff_t ldx, int m,
                       const float* HWY_RESTRICT w, int k, const float* HWY_RESTRICT bias,
                       float* HWY_RESTRICT y, std::ptrdiff_t ldy) {
  const auto lanes = static_cast<int>(hn::Lanes(d));
  const int end = k - k % lanes;
  for (int r = 0; r < m; ++r) {
    const float* xr = x + r * ldx;
    auto acc = hn::Zero(d);
    for (int i = 0; i < end; i += lanes)
      acc = hn::MulAdd(hn::LoadU(d, xr + i), hn::LoadU(d, w + i), acc);
    y[r * ldy] = Finish(d, acc, xr, w, end, k, bias == nullptr ? 0.0F : bias[0]);
  }
}

// Columns [c, c + C) for every row: row groups of 3 as tiles of 3 x 2 (twice for C = 4), the last
// group of 1 or 2 rows as one tile of C columns. The C weight rows stay in L1 while the groups
// pass over them.
template <int C, class D>
HWY_INLINE void Columns(D d, const float* HWY_RESTRICT x, std::ptrdiff_t ldx, int m,
                        const float* HWY_RESTRICT w, std::ptrdiff_t ldw, int k,
                        const float* HWY_RESTRICT bias, float* HWY_RESTRICT y, std::ptrdiff_t ldy) {
  for (int r = 0; r < m; r += 3) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    const int rows = std::min(3, m - r);
    if (rows == 3) {
      Tile<3, 2>(d, xr, ldx, w, ldw, k, bias, yr, ldy);
      if constexpr (C == 4) {
        Tile<3, 2>(d, xr, ldx, w + 2 * ldw, ldw, k, bias == nullptr ? nullptr : bias + 2, yr + 2,
                   ldy);
      }
    } else if (rows == 2) {
      Tile<2, C>(d, xr, ldx, w, ldw, k, bias, yr, ldy);
    } else {
      Tile<1, C>(d, xr, ldx, w, ldw, k, bias, yr, ldy);
    }
  }
}

void LinearFewRows(const float* HWY_RESTRICT x, int m, int ldx, const float* HWY_RESTRICT w, int n,
                   int ldw, int k, const float* HWY_RESTRICT bias, float* HWY_RESTRICT y, int ldy) {
  const hn::ScalableTag<float> d;
  const std::ptrdiff_t sx = ldx;
  const std::ptrdiff_t sw = ldw;
  const std::ptrdiff_t sy = ldy;
  const auto bias_at = [&](int c) { return bias == nullptr ? nullptr : bias + c; };
  int c = 0;
  for (; c + 4 <= n; c += 4) Columns<4>(d, x, sx, m, w + c * sw, sw, k, bias_at(c), y + c, sy);
  if (c + 2 <= n) {
    Columns<2>(d, x, sx, m, w + c * sw, sw, k, bias_at(c), y + c, sy);
    c += 2;
  }
  if (c < n) Column(d, x, sx, m, w + c * sw, k, bias_at(c), y + c, sy);
}

}  // namespace amanuensis::kernels::HWY_NAMESPACE
// NOLINTEND(readability-identifier-naming)
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace amanuensis::kernels {

HWY_EXPORT(LinearFewRows);

void linear_few_rows(const float* x, int m, int ldx, const float* w, int n, int ldw, int k,
                     const float* bias, float* y, int ldy) {
  HWY_DYNAMIC_DISPATCH(LinearFewRows)(x, m, ldx, w, n, ldw, k, bias, y, ldy);
}

}  // namespace amanuensis::kernels
#endif
