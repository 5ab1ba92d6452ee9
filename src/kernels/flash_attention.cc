// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/flash_attention.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/aligned_allocator.h>
#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "kernels/flash_attention.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
// Highway's own naming inside its per-target namespace (CamelCase functions, tag `d`/`L`).
// NOLINTBEGIN(readability-identifier-naming)
namespace amanuensis::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// A panel is 3 vectors of query rows (48 with AVX-512). Micro-tiles hold 3 x kTile
// accumulators: 24 of the 32 vector registers of AVX-512 and AArch64, 12 of the 16 of AVX2/SSE.
// Accumulators are named variables, not arrays, so that SVE's sizeless vectors compile too.
constexpr int kPanelVectors = 3;
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3) || HWY_ARCH_ARM_A64
constexpr int kTile = 8;
#else
constexpr int kTile = 4;
#endif
// Keys per tile: the panel's scores for them, [kKeyTile, panel], stay in L1 (24 KiB with
// AVX-512) next to the transposed queries and output (12 KiB each for head_dim 64).
constexpr int kKeyTile = 128;

// Per-thread scratch that grows to the largest size asked and is then reused.
float* Scratch(std::size_t n) {
  thread_local hwy::AlignedFreeUniquePtr<float[]> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < n) {
    buffer = hwy::AllocateAligned<float>(n);
    capacity = n;
  }
  return buffer.get();
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define AMAN_FA_SCALEF 1
#else
#define AMAN_FA_SCALEF 0
#endif

// exp(x) for x <= 0 (scores minus their maximum), to about 1 ulp: hwy's Exp reduction and
// polynomial in fewer steps. n = round(x / ln 2), r = x - n ln 2 in two parts,
// exp(r) = 1 + r (1 + r P(r)), times 2^n: with AVX-512 by vscalefps (x >= -104, below which
// exp is 0 in float), elsewhere from exponent bits, which need x >= -87 (results below
// e^-87 = 1.6e-38 come out as 1.6e-38). Masked scores are zeroed by the caller.
HWY_INLINE VF ExpNonPositive(DF d, VF x) {
  x = hn::Max(x, hn::Set(d, AMAN_FA_SCALEF ? -104.0F : -87.0F));
  const VF n = hn::Round(hn::Mul(x, hn::Set(d, 1.442695040888963407359924681F)));
  VF r = hn::MulAdd(n, hn::Set(d, -0.693145751953125F), x);
  r = hn::MulAdd(n, hn::Set(d, -1.428606765330187045e-6F), r);
  VF p = hn::Set(d, 0.000198527617612853646278381F);
  p = hn::MulAdd(p, r, hn::Set(d, 0.00139304355252534151077271F));
  p = hn::MulAdd(p, r, hn::Set(d, 0.00833336077630519866943359F));
  p = hn::MulAdd(p, r, hn::Set(d, 0.0416664853692054748535156F));
  p = hn::MulAdd(p, r, hn::Set(d, 0.166666671633720397949219F));
  p = hn::MulAdd(p, r, hn::Set(d, 0.5F));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0F));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0F));
#if AMAN_FA_SCALEF
  return VF{_mm512_scalef_ps(p.raw, n.raw)};
#else
  const hn::RebindToSigned<DF> di;
  const auto bits = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  return hn::Mul(p, hn::BitCast(d, bits));
#endif
}
#undef AMAN_FA_SCALEF

// Turns one vector of rows of a tile's scores (stride width) into exp(score - top), 0 where the
// score is -inf (masked) when kMasked; returns their sum.
template <bool kMasked>
HWY_INLINE VF ExpColumn(DF d, float* HWY_RESTRICT sx, std::size_t width, int kt, VF top) {
  VF sum = hn::Zero(d);
  for (int j = 0; j < kt; ++j) {
    const VF score = hn::Load(d, sx + j * width);
    VF e = ExpNonPositive(d, hn::Sub(score, top));
    if constexpr (kMasked) e = hn::IfThenZeroElse(hn::Eq(score, hn::Set(d, -HUGE_VALF)), e);
    hn::Store(e, d, sx + j * width);
    sum = hn::Add(sum, e);
  }
  return sum;
}

// Accumulators for micro-tile row m: one per panel vector, used only when m < MR and the
// vector index is below NV.
#define AMAN_FA_DECLARE(m, init0, init1, init2)                             \
  [[maybe_unused]] VF c##m##0 = MR > (m) ? (init0) : hn::Zero(d);           \
  [[maybe_unused]] VF c##m##1 = MR > (m) && NV > 1 ? (init1) : hn::Zero(d); \
  [[maybe_unused]] VF c##m##2 = MR > (m) && NV > 2 ? (init2) : hn::Zero(d)
#define AMAN_FA_FMA(m, src)                                     \
  if constexpr (MR > (m)) {                                     \
    const VF b = hn::Set(d, (src));                             \
    c##m##0 = hn::MulAdd(b, x0, c##m##0);                       \
    if constexpr (NV > 1) c##m##1 = hn::MulAdd(b, x1, c##m##1); \
    if constexpr (NV > 2) c##m##2 = hn::MulAdd(b, x2, c##m##2); \
  }
#define AMAN_FA_STORE(m, dst)                                               \
  if constexpr (MR > (m)) {                                                 \
    hn::Store(c##m##0, d, (dst) + (m)*width);                               \
    if constexpr (NV > 1) hn::Store(c##m##1, d, (dst) + (m)*width + L);     \
    if constexpr (NV > 2) hn::Store(c##m##2, d, (dst) + (m)*width + 2 * L); \
  }
#define AMAN_FA_ALL(macro, ...)                                                           \
  macro(0, __VA_ARGS__) macro(1, __VA_ARGS__) macro(2, __VA_ARGS__) macro(3, __VA_ARGS__) \
      macro(4, __VA_ARGS__) macro(5, __VA_ARGS__) macro(6, __VA_ARGS__) macro(7, __VA_ARGS__)
#define AMAN_FA_LOAD3(src)                                     \
  const VF x0 = hn::Load(d, (src));                            \
  const VF x1 = NV > 1 ? hn::Load(d, (src) + L) : hn::Zero(d); \
  const VF x2 = NV > 2 ? hn::Load(d, (src) + 2 * L) : hn::Zero(d)

// Scores of MR keys (MR <= 8) against a panel of NV vectors of query rows:
// s[m][lane] = sum_i k[m][i] qt[i][lane], with qt the panel's queries transposed ([dim, width],
// width = NV lanes). Each key element is broadcast once.
template <int MR, int NV>
HWY_INLINE void ScoreTile(DF d, const float* HWY_RESTRICT qt, std::size_t width, int dim,
                          const float* HWY_RESTRICT k, std::size_t k_ld, float* HWY_RESTRICT s) {
  const std::size_t L = hn::Lanes(d);
  const float* HWY_RESTRICT key[8];
  for (int m = 0; m < 8; ++m) key[m] = k + static_cast<std::size_t>(std::min(m, MR - 1)) * k_ld;
  AMAN_FA_DECLARE(0, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(1, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(2, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(3, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(4, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(5, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(6, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  AMAN_FA_DECLARE(7, hn::Zero(d), hn::Zero(d), hn::Zero(d));
  for (int i = 0; i < dim; ++i) {
    AMAN_FA_LOAD3(qt + static_cast<std::size_t>(i) * width);
    AMAN_FA_FMA(0, key[0][i])
    AMAN_FA_FMA(1, key[1][i])
    AMAN_FA_FMA(2, key[2][i])
    AMAN_FA_FMA(3, key[3][i])
    AMAN_FA_FMA(4, key[4][i])
    AMAN_FA_FMA(5, key[5][i])
    AMAN_FA_FMA(6, key[6][i])
    AMAN_FA_FMA(7, key[7][i])
  }
  AMAN_FA_ALL(AMAN_FA_STORE, s)
}

// ot[m][lane] = alpha[lane] * ot[m][lane] + sum_j v[j][m] p[j][lane] for MR output dimensions
// (MR <= 8) of a panel of NV vectors, over kt keys: p is the tile's probabilities [kt, width],
// ot the panel's output transposed ([dim, width]). Each value element is broadcast once.
template <int MR, int NV>
HWY_INLINE void ValueTile(DF d, const float* HWY_RESTRICT p, std::size_t width, int kt,
                          const float* HWY_RESTRICT v, std::size_t v_ld, float* HWY_RESTRICT ot,
                          const float* HWY_RESTRICT alpha) {
  const std::size_t L = hn::Lanes(d);
  const VF a0 = hn::Load(d, alpha);
  const VF a1 = NV > 1 ? hn::Load(d, alpha + L) : a0;
  const VF a2 = NV > 2 ? hn::Load(d, alpha + 2 * L) : a0;
#define AMAN_FA_SCALED(m, x, a) hn::Mul(hn::Load(d, ot + (m)*width + (x)*L), a)
#define AMAN_FA_DECLARE_SCALED(m) \
  AMAN_FA_DECLARE(m, AMAN_FA_SCALED(m, 0, a0), AMAN_FA_SCALED(m, 1, a1), AMAN_FA_SCALED(m, 2, a2))
  AMAN_FA_DECLARE_SCALED(0);
  AMAN_FA_DECLARE_SCALED(1);
  AMAN_FA_DECLARE_SCALED(2);
  AMAN_FA_DECLARE_SCALED(3);
  AMAN_FA_DECLARE_SCALED(4);
  AMAN_FA_DECLARE_SCALED(5);
  AMAN_FA_DECLARE_SCALED(6);
  AMAN_FA_DECLARE_SCALED(7);
#undef AMAN_FA_DECLARE_SCALED
#undef AMAN_FA_SCALED
  for (int j = 0; j < kt; ++j) {
    const float* HWY_RESTRICT vj = v + static_cast<std::size_t>(j) * v_ld;
    AMAN_FA_LOAD3(p + static_cast<std::size_t>(j) * width);
    AMAN_FA_FMA(0, vj[0])
    AMAN_FA_FMA(1, vj[1])
    AMAN_FA_FMA(2, vj[2])
    AMAN_FA_FMA(3, vj[3])
    AMAN_FA_FMA(4, vj[4])
    AMAN_FA_FMA(5, vj[5])
    AMAN_FA_FMA(6, vj[6])
    AMAN_FA_FMA(7, vj[7])
  }
  AMAN_FA_ALL(AMAN_FA_STORE, ot)
}

#undef AMAN_FA_LOAD3
#undef AMAN_FA_ALL
#undef AMAN_FA_STORE
#undef AMAN_FA_FMA
#undef AMAN_FA_DECLARE

// The last n < kTile keys of a tile.
template <int NV>
HWY_NOINLINE void ScoreTail(int n, DF d, const float* HWY_RESTRICT qt, std::size_t width, int dim,
                            const float* HWY_RESTRICT k, std::size_t k_ld, float* HWY_RESTRICT s) {
  for (; n >= 4; n -= 4, k += 4 * k_ld, s += 4 * width) {
    ScoreTile<4, NV>(d, qt, width, dim, k, k_ld, s);
  }
  if (n >= 2) {
    ScoreTile<2, NV>(d, qt, width, dim, k, k_ld, s);
    n -= 2, k += 2 * k_ld, s += 2 * width;
  }
  if (n == 1) ScoreTile<1, NV>(d, qt, width, dim, k, k_ld, s);
}

// The last n < kTile output dimensions.
template <int NV>
HWY_NOINLINE void ValueTail(int n, DF d, const float* HWY_RESTRICT p, std::size_t width, int kt,
                            const float* HWY_RESTRICT v, std::size_t v_ld, float* HWY_RESTRICT ot,
                            const float* HWY_RESTRICT alpha) {
  for (; n >= 4; n -= 4, v += 4, ot += 4 * width) {
    ValueTile<4, NV>(d, p, width, kt, v, v_ld, ot, alpha);
  }
  if (n >= 2) {
    ValueTile<2, NV>(d, p, width, kt, v, v_ld, ot, alpha);
    n -= 2, v += 2, ot += 2 * width;
  }
  if (n == 1) ValueTile<1, NV>(d, p, width, kt, v, v_ld, ot, alpha);
}

struct Problem {
  const float* q;
  std::size_t q_ld;
  const float* k;
  std::size_t k_ld;
  const float* v;
  std::size_t v_ld;
  int keys;
  int dim;
  float scale;
  int causal_offset;
  float* out;
  std::size_t out_ld;
};

// Per-thread buffers, each row `width` floats: qt and ot, the panel's queries (times scale) and
// output transposed to [dim, width]; s, one key tile's scores, then probabilities,
// [kKeyTile, width]; per query row the running maximum m, running sum l and the last rescaling
// factor alpha.
struct Buffers {
  float* qt;
  float* ot;
  float* s;
  float* m;
  float* l;
  float* alpha;
};

// Scores of keys [j0, j0 + kt) that some rows of the panel from p0 must not see (keys from
// common_keys on): row r sees key j when r >= j - causal_offset; the others get -inf.
template <int NV>
HWY_INLINE void HideLaterKeys(DF d, const Problem& pb, int p0, int j0, int kt, int common_keys,
                              float* HWY_RESTRICT s) {
  const std::size_t L = hn::Lanes(d);
  const std::size_t width = NV * L;
  for (int jj = std::max(0, common_keys - j0); jj < kt; ++jj) {
    const VF first = hn::Set(d, static_cast<float>(j0 + jj - pb.causal_offset));
    float* HWY_RESTRICT sj = s + static_cast<std::size_t>(jj) * width;
    for (std::size_t x = 0; x < NV; ++x) {
      const VF row = hn::Iota(d, static_cast<float>(static_cast<std::size_t>(p0) + x * L));
      const VF hidden =
          hn::IfThenElse(hn::Lt(row, first), hn::Set(d, -HUGE_VALF), hn::Load(d, sj + x * L));
      hn::Store(hidden, d, sj + x * L);
    }
  }
}

// The panel's outputs divided by their softmax sums, written to rows [p0, p0 + pr) of out.
template <int NV>
HWY_INLINE void WritePanel(DF d, const Problem& pb, int p0, int pr, const Buffers& b) {
  const std::size_t L = hn::Lanes(d);
  const std::size_t width = NV * L;
  const auto dim = static_cast<std::size_t>(pb.dim);
  for (std::size_t x = 0; x < NV; ++x) {
    const VF inv = hn::Div(hn::Set(d, 1.0F), hn::Load(d, b.l + x * L));
    for (std::size_t i = 0; i < dim; ++i) {
      float* HWY_RESTRICT o = b.ot + i * width + x * L;
      hn::Store(hn::Mul(hn::Load(d, o), inv), d, o);
    }
  }
  for (std::size_t r = 0; r < static_cast<std::size_t>(pr); ++r) {
    float* HWY_RESTRICT o = pb.out + (static_cast<std::size_t>(p0) + r) * pb.out_ld;
    for (std::size_t i = 0; i < dim; ++i) o[i] = b.ot[i * width + r];
  }
}

// Attention for query rows [p0, p0 + pr) (pr <= NV lanes; rows beyond pr are zero and
// discarded) against every key they see.
template <int NV>
HWY_NOINLINE void AttendPanel(DF d, const Problem& pb, int p0, int pr, const Buffers& b) {
  const std::size_t L = hn::Lanes(d);
  const std::size_t width = NV * L;
  const auto dim = static_cast<std::size_t>(pb.dim);
  for (std::size_t r = 0; r < width; ++r) {
    if (r < static_cast<std::size_t>(pr)) {
      const float* qr = pb.q + (static_cast<std::size_t>(p0) + r) * pb.q_ld;
      for (std::size_t i = 0; i < dim; ++i) b.qt[i * width + r] = qr[i] * pb.scale;
    } else {
      for (std::size_t i = 0; i < dim; ++i) b.qt[i * width + r] = 0.0F;
    }
  }
  std::fill(b.ot, b.ot + dim * width, 0.0F);
  for (std::size_t x = 0; x < NV; ++x) {
    hn::Store(hn::Set(d, std::numeric_limits<float>::lowest()), d, b.m + x * L);
    hn::Store(hn::Zero(d), d, b.l + x * L);
  }
  // Keys any row of the panel sees, and keys every row of it sees (padding rows included).
  const bool causal = pb.causal_offset >= 0;
  const int panel_keys = causal ? std::min(pb.keys, p0 + pr + pb.causal_offset) : pb.keys;
  const int common_keys = causal ? p0 + pb.causal_offset + 1 : pb.keys;

  for (int j0 = 0; j0 < panel_keys; j0 += kKeyTile) {
    const int kt = std::min(kKeyTile, panel_keys - j0);
    const float* HWY_RESTRICT kj = pb.k + static_cast<std::size_t>(j0) * pb.k_ld;
    int j = 0;
    for (; j + kTile <= kt; j += kTile) {
      ScoreTile<kTile, NV>(d, b.qt, width, pb.dim, kj + j * pb.k_ld, pb.k_ld, b.s + j * width);
    }
    if (j < kt)
      ScoreTail<NV>(kt - j, d, b.qt, width, pb.dim, kj + j * pb.k_ld, pb.k_ld, b.s + j * width);

    const bool masked = j0 + kt > common_keys;
    if (masked) HideLaterKeys<NV>(d, pb, p0, j0, kt, common_keys, b.s);

    // Online softmax per vector of rows: new maximum, the factor alpha = exp(old - new) that
    // rescales the sum and output so far (about 0 on the first tile, where both are 0), then
    // the probabilities.
    for (std::size_t x = 0; x < NV; ++x) {
      float* HWY_RESTRICT sx = b.s + x * L;
      VF top = hn::Load(d, sx);
      for (int jj = 1; jj < kt; ++jj) top = hn::Max(top, hn::Load(d, sx + jj * width));
      const VF old_max = hn::Load(d, b.m + x * L);
      top = hn::Max(top, old_max);
      const VF alpha = ExpNonPositive(d, hn::Sub(old_max, top));
      hn::Store(top, d, b.m + x * L);
      hn::Store(alpha, d, b.alpha + x * L);
      const VF sum =
          masked ? ExpColumn<true>(d, sx, width, kt, top) : ExpColumn<false>(d, sx, width, kt, top);
      hn::Store(hn::MulAdd(hn::Load(d, b.l + x * L), alpha, sum), d, b.l + x * L);
    }

    const float* HWY_RESTRICT vj = pb.v + static_cast<std::size_t>(j0) * pb.v_ld;
    int i = 0;
    for (; i + kTile <= pb.dim; i += kTile) {
      ValueTile<kTile, NV>(d, b.s, width, kt, vj + i, pb.v_ld, b.ot + i * width, b.alpha);
    }
    if (i < pb.dim) {
      ValueTail<NV>(pb.dim - i, d, b.s, width, kt, vj + i, pb.v_ld, b.ot + i * width, b.alpha);
    }
  }

  WritePanel<NV>(d, pb, p0, pr, b);
}

void FlashAttention(const float* HWY_RESTRICT q, int q_ld, int rows, const float* HWY_RESTRICT k,
                    int k_ld, const float* HWY_RESTRICT v, int v_ld, int keys, int head_dim,
                    float scale, int causal_offset, float* HWY_RESTRICT out, int out_ld) {
  const DF d;
  const std::size_t L = hn::Lanes(d);
  const std::size_t panel = kPanelVectors * L;
  const auto dim = static_cast<std::size_t>(head_dim);
  if (keys <= 0) {  // softmax over nothing: no weight on any value
    for (int r = 0; r < rows; ++r)
      std::fill_n(out + static_cast<std::ptrdiff_t>(r) * out_ld, dim, 0.0F);
    return;
  }
  Problem pb{};
  pb.q = q;
  pb.q_ld = static_cast<std::size_t>(q_ld);
  pb.k = k;
  pb.k_ld = static_cast<std::size_t>(k_ld);
  pb.v = v;
  pb.v_ld = static_cast<std::size_t>(v_ld);
  pb.keys = keys;
  pb.dim = head_dim;
  pb.scale = scale;
  pb.causal_offset = causal_offset;
  pb.out = out;
  pb.out_ld = static_cast<std::size_t>(out_ld);
  float* buffer = Scratch((2 * dim + kKeyTile + 3) * panel);
  const Buffers b{buffer,
                  buffer + dim * panel,
                  buffer + 2 * dim * panel,
                  buffer + (2 * dim + kKeyTile) * panel,
                  buffer + (2 * dim + kKeyTile + 1) * panel,
                  buffer + (2 * dim + kKeyTile + 2) * panel};
  for (int p0 = 0; p0 < rows; p0 += static_cast<int>(panel)) {
    const int pr = std::min(static_cast<int>(panel), rows - p0);
    // A short last panel takes only the vectors it needs.
    const auto vectors = (static_cast<std::size_t>(pr) + L - 1) / L;
    if (vectors >= 3) {
      AttendPanel<kPanelVectors>(d, pb, p0, pr, b);
    } else if (vectors == 2) {
      AttendPanel<2>(d, pb, p0, pr, b);
    } else {
      AttendPanel<1>(d, pb, p0, pr, b);
    }
  }
}

}  // namespace amanuensis::kernels::HWY_NAMESPACE
// NOLINTEND(readability-identifier-naming)
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace amanuensis::kernels {

HWY_EXPORT(FlashAttention);

void flash_attention(const float* q, int q_ld, int rows, const float* k, int k_ld, const float* v,
                     int v_ld, int keys, int head_dim, float scale, int causal_offset, float* out,
                     int out_ld) {
  HWY_DYNAMIC_DISPATCH(FlashAttention)
  (q, q_ld, rows, k, k_ld, v, v_ld, keys, head_dim, scale, causal_offset, out, out_ld);
}

}  // namespace amanuensis::kernels
#endif
