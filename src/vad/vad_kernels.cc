// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "vad/vad_kernels.cc"
// Only fixed-width targets: the kernels below keep arrays of vectors (register tiles), and SVE's
// sizeless vectors cannot be array elements. On an SVE CPU dispatch picks NEON for this file
// alone (Highway masks the chosen target with the targets each file compiled); the VAD is a
// small share of a transcription, and NEON is as wide as the SVE of most ARM servers. x86 is
// unaffected: these bits name ARM targets only.
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "vad/vad_kernels.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
// Highway's own naming inside its per-target namespace (CamelCase functions, tag `d`/`L`).
// NOLINTBEGIN(readability-identifier-naming)
namespace amanuensis::vad::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kHidden = 128;
constexpr int kGates = 4 * kHidden;

// Rows [row, row + R) of c over columns [col, col + V lanes): R x V accumulators held in
// registers while k runs, each weight vector loaded once for R rows.
template <int R, int V, class D>
HWY_INLINE void GemmTile(D d, const float* const* a_rows, int row, int k, const float* b, int n,
                         int col, const float* bias, bool relu, float* const* c_rows) {
  using Vec = hn::Vec<D>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  Vec acc[R][V];
  for (int v = 0; v < V; ++v) {
    const Vec init = bias != nullptr ? hn::LoadU(d, bias + col + v * lanes) : hn::Zero(d);
    for (int r = 0; r < R; ++r) acc[r][v] = init;
  }
  const float* a[R];
  for (int r = 0; r < R; ++r) a[r] = a_rows[row + r];
  const float* w = b + col;
  for (int i = 0; i < k; ++i, w += n) {
    Vec weights[V];
    for (int v = 0; v < V; ++v) weights[v] = hn::LoadU(d, w + v * lanes);
    for (int r = 0; r < R; ++r) {
      const Vec x = hn::Set(d, a[r][i]);
      for (int v = 0; v < V; ++v) acc[r][v] = hn::MulAdd(x, weights[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      const Vec out = relu ? hn::Max(acc[r][v], hn::Zero(d)) : acc[r][v];
      hn::StoreU(out, d, c_rows[row + r] + col + v * lanes);
    }
  }
}

template <int V, class D>
HWY_INLINE void GemmColumns(D d, const float* const* a_rows, int m, int k, const float* b, int n,
                            int col, const float* bias, bool relu, float* const* c_rows) {
  int row = 0;
  for (; row + 4 <= m; row += 4) GemmTile<4, V>(d, a_rows, row, k, b, n, col, bias, relu, c_rows);
  for (; row < m; ++row) GemmTile<1, V>(d, a_rows, row, k, b, n, col, bias, relu, c_rows);
}

void GemmRows(const float* const* a_rows, int m, int k, const float* HWY_RESTRICT b, int n,
              const float* HWY_RESTRICT bias, bool relu, float* const* c_rows) {
  const hn::ScalableTag<float> d;
  const int lanes = static_cast<int>(hn::Lanes(d));
  int col = 0;
  // Column panels of two vectors: the panel's weights (k x 2 vectors) stay in L1 while every
  // row passes over them.
  for (; col + 2 * lanes <= n; col += 2 * lanes) {
    GemmColumns<2>(d, a_rows, m, k, b, n, col, bias, relu, c_rows);
  }
  for (; col + lanes <= n; col += lanes) {
    GemmColumns<1>(d, a_rows, m, k, b, n, col, bias, relu, c_rows);
  }
  const hn::CappedTag<float, 1> d1;
  for (; col < n; ++col) GemmColumns<1>(d1, a_rows, m, k, b, n, col, bias, relu, c_rows);
}

void Magnitudes(const float* HWY_RESTRICT real, const float* HWY_RESTRICT imag, int frames,
                int in_stride, int bins, float* HWY_RESTRICT out, int out_stride) {
  const hn::ScalableTag<float> d;
  const int lanes = static_cast<int>(hn::Lanes(d));
  for (int f = 0; f < frames; ++f) {
    const float* re = real + static_cast<std::ptrdiff_t>(f) * in_stride;
    const float* im = imag + static_cast<std::ptrdiff_t>(f) * in_stride;
    float* o = out + static_cast<std::ptrdiff_t>(f) * out_stride;
    int c = 0;
    for (; c + lanes <= bins; c += lanes) {
      const auto x = hn::LoadU(d, re + c);
      const auto y = hn::LoadU(d, im + c);
      hn::StoreU(hn::Sqrt(hn::MulAdd(x, x, hn::Mul(y, y))), d, o + c);
    }
    for (; c < bins; ++c) o[c] = std::sqrt(re[c] * re[c] + im[c] * im[c]);
  }
}

// 1 / (1 + e^-x); the argument is clamped where the result is already 0 or 1 in float, inside
// the range Exp is accurate for.
template <class D, class V>
HWY_INLINE V Sigmoid(D d, V x) {
  const V clamped = hn::Min(hn::Max(x, hn::Set(d, -88.0F)), hn::Set(d, 88.0F));
  const V one = hn::Set(d, 1.0F);
  return hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(clamped))));
}

// gates[j] = gates_in[j] + sum_i h[i] r_t[i][j]: eight independent accumulators per column
// block, so that the multiply-adds do not wait on each other.
template <class D>
HWY_INLINE void Recurrent(D d, const float* gates_in, const float* r_t, const float* h,
                          float* gates) {
  constexpr int kBlock = 8;
  const int lanes = static_cast<int>(hn::Lanes(d));
  for (int col = 0; col < kGates; col += kBlock * lanes) {
    hn::Vec<D> acc[kBlock];
    for (int v = 0; v < kBlock; ++v) acc[v] = hn::LoadU(d, gates_in + col + v * lanes);
    const float* w = r_t + col;
    for (int i = 0; i < kHidden; ++i, w += kGates) {
      const auto x = hn::Set(d, h[i]);
      for (int v = 0; v < kBlock; ++v) acc[v] = hn::MulAdd(x, hn::LoadU(d, w + v * lanes), acc[v]);
    }
    for (int v = 0; v < kBlock; ++v) hn::StoreU(acc[v], d, gates + col + v * lanes);
  }
}

// One LSTM step's state update from its gate pre-activations; returns head_w . relu(h).
template <class D>
HWY_INLINE float UpdateState(D d, const float* gates, const float* head_w, float* h, float* c) {
  const int lanes = static_cast<int>(hn::Lanes(d));
  auto head = hn::Zero(d);
  for (int j = 0; j < kHidden; j += lanes) {
    const auto in = Sigmoid(d, hn::LoadU(d, gates + j));
    const auto out = Sigmoid(d, hn::LoadU(d, gates + kHidden + j));
    const auto forget = Sigmoid(d, hn::LoadU(d, gates + 2 * kHidden + j));
    const auto cell = hn::Tanh(d, hn::LoadU(d, gates + 3 * kHidden + j));
    const auto c_new = hn::MulAdd(forget, hn::LoadU(d, c + j), hn::Mul(in, cell));
    const auto h_new = hn::Mul(out, hn::Tanh(d, c_new));
    hn::StoreU(c_new, d, c + j);
    hn::StoreU(h_new, d, h + j);
    head = hn::MulAdd(hn::LoadU(d, head_w + j), hn::Max(h_new, hn::Zero(d)), head);
  }
  return hn::GetLane(hn::SumOfLanes(d, head));
}

void LstmSteps(const float* HWY_RESTRICT gates_in, int steps, const float* HWY_RESTRICT r_t,
               const float* HWY_RESTRICT head_w, float head_b, float* HWY_RESTRICT h,
               float* HWY_RESTRICT c, float* HWY_RESTRICT probs) {
  // Vectors of more than 16 lanes (SVE, RVV) would not divide the 128-wide blocks evenly.
  const hn::CappedTag<float, 16> d;
  HWY_ALIGN float gates[kGates];
  for (int step = 0; step < steps; ++step) {
    Recurrent(d, gates_in + static_cast<std::ptrdiff_t>(step) * kGates, r_t, h, gates);
    const float logit = UpdateState(d, gates, head_w, h, c) + head_b;
    probs[step] = 1.0F / (1.0F + std::exp(-logit));
  }
}

const char* Target() { return hwy::TargetName(HWY_TARGET); }

}  // namespace amanuensis::vad::HWY_NAMESPACE
// NOLINTEND(readability-identifier-naming)
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace amanuensis::vad {

HWY_EXPORT(GemmRows);
HWY_EXPORT(Magnitudes);
HWY_EXPORT(LstmSteps);
HWY_EXPORT(Target);

void gemm_rows(const float* const* a_rows, int m, int k, const float* b, int n, const float* bias,
               bool relu, float* const* c_rows) {
  HWY_DYNAMIC_DISPATCH(GemmRows)(a_rows, m, k, b, n, bias, relu, c_rows);
}

void magnitudes(const float* re, const float* im, int frames, int in_stride, int bins, float* out,
                int out_stride) {
  HWY_DYNAMIC_DISPATCH(Magnitudes)(re, im, frames, in_stride, bins, out, out_stride);
}

void lstm_steps(const float* gates_in, int steps, const float* r_t, const float* head_w,
                float head_b, float* h, float* c, float* probs) {
  HWY_DYNAMIC_DISPATCH(LstmSteps)(gates_in, steps, r_t, head_w, head_b, h, c, probs);
}

const char* vad_kernels_target() { return HWY_DYNAMIC_DISPATCH(Target)(); }

}  // namespace amanuensis::vad
#endif  // HWY_ONCE
