// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/small_attention.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cstddef>

#include "kernels/small_attention.h"
#include "kernels/vector_ops.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
// Highway's own naming inside its per-target namespace (CamelCase functions, tag `d`).
// NOLINTBEGIN(readability-identifier-naming)
namespace amanuensis::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// q . k over head_dim, summed in two vector accumulators. Every score, shared key or own, is
// this function of the same two rows, so sharing changes no bit.
template <class D>
HWY_INLINE float Dot(D d, const float* HWY_RESTRICT q, const float* HWY_RESTRICT k, int head_dim) {
  const auto lanes = static_cast<int>(hn::Lanes(d));
  const int vector_end = head_dim - head_dim % lanes;
  auto acc0 = hn::Zero(d);
  auto acc1 = hn::Zero(d);
  int i = 0;
  for (; i + 2 * lanes <= vector_end; i += 2 * lanes) {
    acc0 = hn::MulAdd(hn::LoadU(d, q + i), hn::LoadU(d, k + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(d, q + i + lanes), hn::LoadU(d, k + i + lanes), acc1);
  }
  for (; i < vector_end; i += lanes)
    acc0 = hn::MulAdd(hn::LoadU(d, q + i), hn::LoadU(d, k + i), acc0);
  float dot = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < head_dim; ++i) dot += q[i] * k[i];
  return dot;
}

// row[j] = scale * q . k[j] for j in [0, keys); four keys at a time for the sake of the
// reductions' latency, each summed exactly as alone.
template <class D>
HWY_INLINE void Scores(D d, const float* HWY_RESTRICT q, const float* HWY_RESTRICT k, int k_ld,
                       int keys, int head_dim, float scale, float* HWY_RESTRICT row) {
  const auto ld = static_cast<std::ptrdiff_t>(k_ld);
  int j = 0;
  for (; j + 4 <= keys; j += 4) {
    const float* kj = k + j * ld;
    const float d0 = Dot(d, q, kj, head_dim);
    const float d1 = Dot(d, q, kj + ld, head_dim);
    const float d2 = Dot(d, q, kj + 2 * ld, head_dim);
    const float d3 = Dot(d, q, kj + 3 * ld, head_dim);
    row[j] = d0 * scale;
    row[j + 1] = d1 * scale;
    row[j + 2] = d2 * scale;
    row[j + 3] = d3 * scale;
  }
  for (; j < keys; ++j) row[j] = Dot(d, q, k + j * ld, head_dim) * scale;
}

// o[i] += p[j] * v[j][i] for j in [0, keys) in order, skipping p[j] == 0: a row's output is the
// same chain of fused multiply-adds from 0 whichever keys came before. Four vectors of columns
// stay in registers across the keys; the rest go through memory.
template <class D>
HWY_INLINE void AddWeightedValues(D d, const float* HWY_RESTRICT p, const float* HWY_RESTRICT v,
                                  int v_ld, int keys, int head_dim, float* HWY_RESTRICT o) {
  const auto lanes = static_cast<int>(hn::Lanes(d));
  const int vector_end = head_dim - head_dim % lanes;
  const auto ld = static_cast<std::ptrdiff_t>(v_ld);
  int i0 = 0;
  for (; i0 + 4 * lanes <= vector_end; i0 += 4 * lanes) {
    auto a0 = hn::LoadU(d, o + i0);
    auto a1 = hn::LoadU(d, o + i0 + lanes);
    auto a2 = hn::LoadU(d, o + i0 + 2 * lanes);
    auto a3 = hn::LoadU(d, o + i0 + 3 * lanes);
    for (int j = 0; j < keys; ++j) {
      if (p[j] == 0.0F) continue;
      const auto vp = hn::Set(d, p[j]);
      const float* vj = v + j * ld + i0;
      a0 = hn::MulAdd(vp, hn::LoadU(d, vj), a0);
      a1 = hn::MulAdd(vp, hn::LoadU(d, vj + lanes), a1);
      a2 = hn::MulAdd(vp, hn::LoadU(d, vj + 2 * lanes), a2);
      a3 = hn::MulAdd(vp, hn::LoadU(d, vj + 3 * lanes), a3);
    }
    hn::StoreU(a0, d, o + i0);
    hn::StoreU(a1, d, o + i0 + lanes);
    hn::StoreU(a2, d, o + i0 + 2 * lanes);
    hn::StoreU(a3, d, o + i0 + 3 * lanes);
  }
  for (int j = 0; j < keys; ++j) {
    if (p[j] == 0.0F) continue;
    const float* vj = v + j * ld;
    const auto vp = hn::Set(d, p[j]);
    int i = i0;
    for (; i < vector_end; i += lanes) {
      hn::StoreU(hn::MulAdd(vp, hn::LoadU(d, vj + i), hn::LoadU(d, o + i)), d, o + i);
    }
    for (; i < head_dim; ++i) o[i] += p[j] * vj[i];
  }
}

int VisibleOwn(const SmallSequence& s, int r) {
  return s.causal_offset < 0 ? s.keys : std::min(s.keys, r + s.causal_offset + 1);
}

// Row by row: scores over the shared keys then the row's own, the softmax over both, values
// likewise. The first row brings a head's shared keys and values (a few tens of KB) into the
// cache for the group's other rows, so memory sees them once per group; the arithmetic is the
// ungrouped kernel's, operation for operation.
void SmallAttentionShared(const SharedKeys& shared, std::span<const SmallSequence> sequences,
                          int head_dim, float scale, float* HWY_RESTRICT scores) {
  const hn::ScalableTag<float> d;
  const int shared_keys = shared.keys;
  for (const auto& s : sequences) {
    const int last_visible = VisibleOwn(s, s.rows - 1);
    const int width = shared_keys + last_visible;
    for (int r = 0; r < s.rows; ++r) {
      const float* q = s.q + static_cast<std::ptrdiff_t>(r) * s.q_ld;
      float* o = s.out + static_cast<std::ptrdiff_t>(r) * s.out_ld;
      Scores(d, q, shared.k, shared.k_ld, shared_keys, head_dim, scale, scores);
      Scores(d, q, s.k, s.k_ld, last_visible, head_dim, scale, scores + shared_keys);
      softmax_row(scores, shared_keys + VisibleOwn(s, r), width);
      std::fill(o, o + head_dim, 0.0F);
      AddWeightedValues(d, scores, shared.v, shared.v_ld, shared_keys, head_dim, o);
      AddWeightedValues(d, scores + shared_keys, s.v, s.v_ld, last_visible, head_dim, o);
    }
  }
}

}  // namespace amanuensis::kernels::HWY_NAMESPACE
// NOLINTEND(readability-identifier-naming)
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace amanuensis::kernels {

HWY_EXPORT(SmallAttentionShared);

void small_attention_shared(const SharedKeys& shared, std::span<const SmallSequence> sequences,
                            int head_dim, float scale, float* scores) {
  HWY_DYNAMIC_DISPATCH(SmallAttentionShared)(shared, sequences, head_dim, scale, scores);
}

void small_attention(const float* q, int q_ld, int rows, const float* k, int k_ld, const float* v,
                     int v_ld, int keys, int head_dim, float scale, int causal_offset,
                     float* scores, float* out, int out_ld) {
  if (rows <= 0) return;
  const SmallSequence one{q, q_ld, rows, k, k_ld, v, v_ld, keys, causal_offset, out, out_ld};
  small_attention_shared({}, {&one, 1}, head_dim, scale, scores);
}

}  // namespace amanuensis::kernels
#endif  // HWY_ONCE
