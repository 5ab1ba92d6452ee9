// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/half_cache.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/half_cache.h"
#include "kernels/vector_ops.h"
// clang-format on

// NOLINTBEGIN(readability-identifier-naming, bugprone-macro-parentheses)
HWY_BEFORE_NAMESPACE();
namespace amanuensis::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes, so that a tile of 32 keys is a whole number of pairs of vectors everywhere.
using DF = hn::CappedTag<float, 16>;
using DH = hn::Rebind<hwy::float16_t, DF>;
using VF = hn::Vec<DF>;

#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3) || HWY_ARCH_ARM_A64
// 32 vector registers: scores of 8 rows x 2 key vectors (16 accumulators), values of 6 rows x 4
// dimension vectors (24).
constexpr int kScoreRows = 8;
constexpr int kValueVectors = 4;
#else
// 16 registers: 6 x 2 score accumulators, 6 x 2 value accumulators, plus operands.
constexpr int kScoreRows = 6;
constexpr int kValueVectors = 2;
#endif
constexpr int kValueRows = 6;

// Demotion with the CPU's own conversion (F16C, AVX-512, NEON) where Highway has one; its
// emulation elsewhere truncates, so other targets take the scalar rounding instead: every
// target stores the same bits.
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || HWY_ARCH_ARM_A64
#define AMAN_HC_HARDWARE_DEMOTE 1
#else
#define AMAN_HC_HARDWARE_DEMOTE 0
#endif

// Per-thread scratch that grows to the largest size asked and is then reused.
static float* HalfScratch(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// Calls f(std::integral_constant<int, n>) for n = rows in [1, kMax].
template <int kMax, typename F>
HWY_INLINE void WithRows(int rows, const F& f) {
  switch (rows) {
#define AMAN_HC_CASE(n)                                               \
  case n:                                                             \
    if constexpr ((n) <= kMax) f(std::integral_constant<int, (n)>{}); \
    break;
    AMAN_HC_CASE(1)
    AMAN_HC_CASE(2)
    AMAN_HC_CASE(3)
    AMAN_HC_CASE(4)
    AMAN_HC_CASE(5)
    AMAN_HC_CASE(6)
    AMAN_HC_CASE(7)
    AMAN_HC_CASE(8)
#undef AMAN_HC_CASE
    default:
      break;
  }
}

// Accumulators are named variables, not arrays, so that sizeless (SVE) vectors compile too;
// row r's exist for every r, those with r >= R are never used. ROWS8 also lists key vectors.
#define AMAN_HC_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define AMAN_HC_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

#define AMAN_HC_VECTORS8(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3) X(r, 4) X(r, 5) X(r, 6) X(r, 7)

// Scores of R query rows against NV vectors of keys (NV <= 8, R * NV <= 16): key[v] points at
// vector v's keys for dimension 0 (dimension i is i * kHalfKeyTile further), its scores go to
// s + v * lanes. Each key vector is widened once and serves every row.
template <int R, int NV>
HWY_INLINE void ScoreVectors(DF d, const float* HWY_RESTRICT qs, int dim,
                             const hwy::float16_t* const* key, std::size_t ahead,
                             float* HWY_RESTRICT s, std::size_t s_ld) {
  const DH dh;
  const std::size_t L = hn::Lanes(d);
  // Vectors that start a tile, whose rows the prefetch covers `ahead` elements on.
  const std::size_t per_tile = kHalfKeyTile / L;
#define AMAN_HC_ZERO(r, v) [[maybe_unused]] VF a##r##v = hn::Zero(d);
#define AMAN_HC_DECLARE(r) AMAN_HC_VECTORS8(AMAN_HC_ZERO, r)
  AMAN_HC_ROWS8(AMAN_HC_DECLARE)
#undef AMAN_HC_DECLARE
#undef AMAN_HC_ZERO
  for (int i = 0; i < dim; ++i) {
    const std::size_t at = static_cast<std::size_t>(i) * kHalfKeyTile;
    for (int v = 0; v < NV; v += static_cast<int>(per_tile)) hwy::Prefetch(key[v] + at + ahead);
#define AMAN_HC_KEY(v)             \
  [[maybe_unused]] const VF k##v = \
      NV > (v) ? hn::PromoteTo(d, hn::LoadU(dh, key[v] + at)) : hn::Zero(d);
    AMAN_HC_ROWS8(AMAN_HC_KEY)
#undef AMAN_HC_KEY
#define AMAN_HC_FMA1(r, v) \
  if constexpr (NV > (v)) a##r##v = hn::MulAdd(b, k##v, a##r##v);
#define AMAN_HC_FMA(r)                        \
  if constexpr (R > (r)) {                    \
    const VF b = hn::Set(d, qs[(r)*dim + i]); \
    AMAN_HC_VECTORS8(AMAN_HC_FMA1, r)         \
  }
    AMAN_HC_ROWS8(AMAN_HC_FMA)
#undef AMAN_HC_FMA
#undef AMAN_HC_FMA1
  }
#define AMAN_HC_STORE1(r, v) \
  if constexpr (NV > (v)) hn::StoreU(a##r##v, d, s + (r)*s_ld + (v)*L);
#define AMAN_HC_STORE(r)                \
  if constexpr (R > (r)) {              \
    AMAN_HC_VECTORS8(AMAN_HC_STORE1, r) \
  }
  AMAN_HC_ROWS8(AMAN_HC_STORE)
#undef AMAN_HC_STORE
#undef AMAN_HC_STORE1
}

// Scores of R rows against every key of one head; s is [R][tiles * kHalfKeyTile]. Key vectors
// are taken a few at a time, across tiles: enough independent sums to hide the latency of the
// multiply-adds however few the rows (8 vectors for one row, 4 for two, 2 from three on).
template <int R>
HWY_NOINLINE void HalfScores(const float* HWY_RESTRICT qs, int dim, int tiles,
                             const hwy::float16_t* HWY_RESTRICT keys, float* HWY_RESTRICT s,
                             std::size_t s_ld) {
  constexpr int kVectors = R == 1 ? 8 : R == 2 ? 4 : 2;
  const DF d;
  const std::size_t L = hn::Lanes(d);
  const std::size_t per_tile = kHalfKeyTile / L;
  const std::size_t total = static_cast<std::size_t>(tiles) * per_tile;
  const auto tile_size = static_cast<std::size_t>(dim) * kHalfKeyTile;
  const auto vector_at = [&](std::size_t g) {
    return keys + (g / per_tile) * tile_size + (g % per_tile) * L;
  };
  // Decoding streams the cache from memory faster than the hardware prefetchers fetch these
  // tiles (one row of each tile per step of the dimension loop): ask for them 4 tiles ahead.
  const std::size_t ahead = 4 * tile_size;
  const hwy::float16_t* key[8];
  std::size_t g = 0;
  for (; g + kVectors <= total; g += kVectors) {
    for (int v = 0; v < 8; ++v)
      key[v] = vector_at(g + static_cast<std::size_t>(std::min(v, kVectors - 1)));
    ScoreVectors<R, kVectors>(d, qs, dim, key, ahead, s + g * L, s_ld);
  }
  for (; g < total; ++g) {
    for (auto& k : key) k = vector_at(g);
    ScoreVectors<R, 1>(d, qs, dim, key, ahead, s + g * L, s_ld);
  }
}

// out[r][c, c + NV lanes) = sum_j p[r][j] v[j][c, ...) for R rows (R <= 6, NV <= 4): each
// value vector is widened once per key and serves every row. With kSplit = 2, even and odd keys
// go to separate sums (added at the end), so that one or two rows still have enough independent
// multiply-adds in flight to hide their latency.
template <int R, int NV, int kSplit>
HWY_INLINE void ValueColumns(DF d, const float* HWY_RESTRICT p, std::size_t p_ld, int n_keys,
                             const hwy::float16_t* HWY_RESTRICT v, int dim, float* HWY_RESTRICT out,
                             std::size_t out_ld) {
  const DH dh;
  const std::size_t L = hn::Lanes(d);
#define AMAN_HC_DECLARE(r)                                          \
  [[maybe_unused]] VF c##r##0 = hn::Zero(d), c##r##1 = hn::Zero(d); \
  [[maybe_unused]] VF c##r##2 = hn::Zero(d), c##r##3 = hn::Zero(d); \
  [[maybe_unused]] VF e##r##0 = hn::Zero(d), e##r##1 = hn::Zero(d); \
  [[maybe_unused]] VF e##r##2 = hn::Zero(d), e##r##3 = hn::Zero(d);
  AMAN_HC_ROWS6(AMAN_HC_DECLARE)
#undef AMAN_HC_DECLARE
  // Adds key j's value row, weighted by each row's p[r][j], to the sums `acc`.
#define AMAN_HC_LOAD(x, j)                                                                     \
  const hwy::float16_t* HWY_RESTRICT x = v + static_cast<std::size_t>(j) * dim;                \
  const VF x##0 = hn::PromoteTo(d, hn::LoadU(dh, x));                                          \
  [[maybe_unused]] const VF x##1 = NV > 1 ? hn::PromoteTo(d, hn::LoadU(dh, x + L)) : x##0;     \
  [[maybe_unused]] const VF x##2 = NV > 2 ? hn::PromoteTo(d, hn::LoadU(dh, x + 2 * L)) : x##0; \
  [[maybe_unused]] const VF x##3 = NV > 3 ? hn::PromoteTo(d, hn::LoadU(dh, x + 3 * L)) : x##0;
#define AMAN_HC_FMA(r, acc, x, j)                                     \
  if constexpr (R > (r)) {                                            \
    const VF b = hn::Set(d, p[(r)*p_ld + (j)]);                       \
    acc##r##0 = hn::MulAdd(b, x##0, acc##r##0);                       \
    if constexpr (NV > 1) acc##r##1 = hn::MulAdd(b, x##1, acc##r##1); \
    if constexpr (NV > 2) acc##r##2 = hn::MulAdd(b, x##2, acc##r##2); \
    if constexpr (NV > 3) acc##r##3 = hn::MulAdd(b, x##3, acc##r##3); \
  }
#define AMAN_HC_ACCUMULATE(acc, x, j) \
  AMAN_HC_FMA(0, acc, x, j)           \
  AMAN_HC_FMA(1, acc, x, j)           \
  AMAN_HC_FMA(2, acc, x, j)           \
  AMAN_HC_FMA(3, acc, x, j)           \
  AMAN_HC_FMA(4, acc, x, j)           \
  AMAN_HC_FMA(5, acc, x, j)
  // Value rows are read in order; ask for them 64 rows (8 KiB for head_dim 64) ahead.
  const std::size_t ahead = 64 * static_cast<std::size_t>(dim);
  int j = 0;
  if constexpr (kSplit == 2) {
    for (; j + 2 <= n_keys; j += 2) {
      hwy::Prefetch(v + static_cast<std::size_t>(j) * dim + ahead);
      AMAN_HC_LOAD(w, j)
      AMAN_HC_LOAD(x, j + 1)
      AMAN_HC_ACCUMULATE(c, w, j)
      AMAN_HC_ACCUMULATE(e, x, j + 1)
    }
  }
  for (; j < n_keys; ++j) {
    if (j % 2 == 0) hwy::Prefetch(v + static_cast<std::size_t>(j) * dim + ahead);
    AMAN_HC_LOAD(w, j)
    AMAN_HC_ACCUMULATE(c, w, j)
  }
#undef AMAN_HC_ACCUMULATE
#undef AMAN_HC_FMA
#undef AMAN_HC_LOAD
#define AMAN_HC_STORE1(r, x)                                                                    \
  if constexpr (NV > (x)) {                                                                     \
    hn::StoreU(kSplit == 2 ? hn::Add(c##r##x, e##r##x) : c##r##x, d, out + (r)*out_ld + (x)*L); \
  }
#define AMAN_HC_STORE(r)                                                                \
  if constexpr (R > (r)) {                                                              \
    AMAN_HC_STORE1(r, 0) AMAN_HC_STORE1(r, 1) AMAN_HC_STORE1(r, 2) AMAN_HC_STORE1(r, 3) \
  }
  AMAN_HC_ROWS6(AMAN_HC_STORE)
#undef AMAN_HC_STORE
#undef AMAN_HC_STORE1
}

// The weighted sum of value rows for R rows of probabilities p ([R][p_ld]): kValueVectors
// vectors of dimensions at a time, then single vectors, then the last dimensions one by one.
template <int R>
HWY_NOINLINE void HalfValues(const float* HWY_RESTRICT p, std::size_t p_ld, int n_keys,
                             const hwy::float16_t* HWY_RESTRICT v, int dim, float* HWY_RESTRICT out,
                             std::size_t out_ld) {
  const DF d;
  const auto L = static_cast<int>(hn::Lanes(d));
  // One or two rows: 4 vectors of dimensions and even and odd keys apart, 8 or 16 sums.
  constexpr int kVectors = R <= 2 ? 4 : kValueVectors;
  constexpr int kSplit = R <= 2 ? 2 : 1;
  int c = 0;
  for (; c + kVectors * L <= dim; c += kVectors * L)
    ValueColumns<R, kVectors, kSplit>(d, p, p_ld, n_keys, v + c, dim, out + c, out_ld);
  for (; c + L <= dim; c += L)
    ValueColumns<R, 1, kSplit>(d, p, p_ld, n_keys, v + c, dim, out + c, out_ld);
  const auto* bits = reinterpret_cast<const std::uint16_t*>(v);
  for (; c < dim; ++c) {
    for (int r = 0; r < R; ++r) {
      float sum = 0.0F;
      for (int j = 0; j < n_keys; ++j)
        sum += p[r * p_ld + j] * half_to_float(bits[static_cast<std::size_t>(j) * dim + c]);
      out[r * out_ld + c] = sum;
    }
  }
}

void HalfCacheAttention(const float* HWY_RESTRICT q, int q_ld, int rows, const HalfKeyValues& kv,
                        int head, float scale, float* HWY_RESTRICT scores, float* HWY_RESTRICT out,
                        int out_ld) {
  const int dim = kv.head_dim;
  const int n_keys = kv.n_keys;
  if (n_keys <= 0) {  // softmax over nothing: no weight on any value
    for (int r = 0; r < rows; ++r)
      std::fill_n(out + static_cast<std::ptrdiff_t>(r) * out_ld, dim, 0.0F);
    return;
  }
  const auto s_ld = static_cast<std::size_t>(kv.tiles()) * kHalfKeyTile;
  float* qs = HalfScratch(kScoreRows * (dim + s_ld));
  float* s = qs + static_cast<std::size_t>(kScoreRows) * dim;
  const auto* keys = reinterpret_cast<const hwy::float16_t*>(kv.keys + head * kv.key_head_size());
  const auto* values =
      reinterpret_cast<const hwy::float16_t*>(kv.values + head * kv.value_head_size());
  for (int r0 = 0; r0 < rows; r0 += kScoreRows) {
    const int block = std::min(kScoreRows, rows - r0);
    // Scaling the queries once is cheaper than scaling every score.
    for (int r = 0; r < block; ++r) {
      const float* qr = q + static_cast<std::ptrdiff_t>(r0 + r) * q_ld;
      for (int i = 0; i < dim; ++i) qs[r * dim + i] = qr[i] * scale;
    }
    WithRows<kScoreRows>(
        block, [&](auto n) { HalfScores<decltype(n)::value>(qs, dim, kv.tiles(), keys, s, s_ld); });
    for (int r = 0; r < block; ++r) {
      float* sr = s + r * s_ld;
      if (scores != nullptr)
        std::copy_n(sr, n_keys, scores + static_cast<std::ptrdiff_t>(r0 + r) * n_keys);
      softmax_row(sr, n_keys, n_keys);
    }
    for (int g = 0; g < block; g += kValueRows) {
      float* o = out + static_cast<std::ptrdiff_t>(r0 + g) * out_ld;
      WithRows<kValueRows>(std::min(kValueRows, block - g), [&](auto n) {
        HalfValues<decltype(n)::value>(s + g * s_ld, s_ld, n_keys, values, dim, o,
                                       static_cast<std::size_t>(out_ld));
      });
    }
  }
}

// n floats to binary16, rounding to nearest even on every target.
HWY_INLINE void DemoteRow(const float* HWY_RESTRICT x, std::size_t n,
                          std::uint16_t* HWY_RESTRICT out) {
  std::size_t i = 0;
#if AMAN_HC_HARDWARE_DEMOTE
  const DF d;
  const DH dh;
  const std::size_t L = hn::Lanes(d);
  const VF largest = hn::Set(d, 65504.0F);
  const VF lowest = hn::Neg(largest);
  auto* to = reinterpret_cast<hwy::float16_t*>(out);
  for (; i + L <= n; i += L) {
    const VF clamped = hn::Min(hn::Max(hn::LoadU(d, x + i), lowest), largest);
    hn::StoreU(hn::DemoteTo(dh, clamped), dh, to + i);
  }
#endif
  for (; i < n; ++i) out[i] = float_to_half(x[i]);
}

void PackHalf(const float* HWY_RESTRICT k, const float* HWY_RESTRICT v, int ld,
              std::uint16_t* HWY_RESTRICT keys_out, std::uint16_t* HWY_RESTRICT values_out,
              int n_keys, int n_heads, int head_dim) {
  const HalfKeyValues layout{nullptr, nullptr, n_keys, n_heads, head_dim};
  const auto dim = static_cast<std::size_t>(head_dim);
  float* tile = HalfScratch(dim * kHalfKeyTile);
  for (int h = 0; h < n_heads; ++h) {
    const std::size_t column = h * dim;
    std::uint16_t* vo = values_out + h * layout.value_head_size();
    for (int j = 0; j < n_keys; ++j)
      DemoteRow(v + static_cast<std::size_t>(j) * ld + column, dim, vo + j * dim);
    std::uint16_t* ko = keys_out + h * layout.key_head_size();
    for (int t = 0; t < layout.tiles(); ++t) {
      // Transposed in float, then demoted a whole tile at a time.
      for (int jj = 0; jj < kHalfKeyTile; ++jj) {
        const int j = t * kHalfKeyTile + jj;
        const float* row = k + static_cast<std::size_t>(j) * ld + column;
        for (std::size_t i = 0; i < dim; ++i)
          tile[i * kHalfKeyTile + jj] = j < n_keys ? row[i] : 0.0F;
      }
      DemoteRow(tile, dim * kHalfKeyTile, ko + t * dim * kHalfKeyTile);
    }
  }
}

#undef AMAN_HC_ROWS8
#undef AMAN_HC_ROWS6
#undef AMAN_HC_HARDWARE_DEMOTE

}  // namespace amanuensis::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
// NOLINTEND(readability-identifier-naming, bugprone-macro-parentheses)

#if HWY_ONCE
namespace amanuensis::kernels {

HWY_EXPORT(HalfCacheAttention);
HWY_EXPORT(PackHalf);

std::uint16_t float_to_half(float x) {
  x = std::clamp(x, -65504.0F, 65504.0F);
  std::uint32_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  const auto sign = static_cast<std::uint16_t>((b >> 16) & 0x8000U);
  b &= 0x7FFFFFFFU;
  if (b > 0x7F800000U) return sign | 0x7E00U;  // NaN
  if (b >= 0x38800000U) {
    // Normal: round the 23-bit mantissa to 10 bits, halves to even (a carry moves into the
    // exponent, as it should), then rebias the exponent from 127 to 15.
    const std::uint32_t rounded = b + 0xFFFU + ((b >> 13) & 1U);
    return sign | static_cast<std::uint16_t>((rounded - 0x38000000U) >> 13);
  }
  if (b <= 0x33000000U) return sign;  // at most half the smallest subnormal, 2^-25: zero
  // Subnormal: m * 2^-24, m in [1, 1024] (1024 is the smallest normal, which encodes as such).
  const std::uint32_t shift = 126U - (b >> 23);
  const std::uint32_t mantissa = (b & 0x7FFFFFU) | 0x800000U;
  std::uint32_t m = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1U << shift) - 1U);
  const std::uint32_t half = 1U << (shift - 1U);
  if (rest > half || (rest == half && (m & 1U) != 0)) ++m;
  return sign | static_cast<std::uint16_t>(m);
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000U) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1FU;
  const std::uint32_t mantissa = h & 0x3FFU;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  const std::uint32_t bits = exponent == 31 ? sign | 0x7F800000U | (mantissa << 13)
                                            : sign | ((exponent + 112U) << 23) | (mantissa << 13);
  float f = 0.0F;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void pack_half_key_values(const float* k, const float* v, int ld, std::uint16_t* keys_out,
                          std::uint16_t* values_out, int n_keys, int n_heads, int head_dim) {
  HWY_DYNAMIC_DISPATCH(PackHalf)(k, v, ld, keys_out, values_out, n_keys, n_heads, head_dim);
}

void unpack_half_head(const HalfKeyValues& kv, int head, float* keys, float* values) {
  const auto dim = static_cast<std::size_t>(kv.head_dim);
  const std::uint16_t* k = kv.keys + head * kv.key_head_size();
  const std::uint16_t* v = kv.values + head * kv.value_head_size();
  for (int j = 0; j < kv.n_keys; ++j) {
    const std::uint16_t* tile = k + (j / kHalfKeyTile) * dim * kHalfKeyTile + j % kHalfKeyTile;
    for (std::size_t i = 0; i < dim; ++i) {
      if (keys != nullptr) keys[j * dim + i] = half_to_float(tile[i * kHalfKeyTile]);
      if (values != nullptr) values[j * dim + i] = half_to_float(v[j * dim + i]);
    }
  }
}

std::vector<float> unpack_half(const HalfKeyValues& kv, bool keys) {
  const std::size_t head_size = kv.value_head_size();
  std::vector<float> out(head_size * kv.n_heads);
  for (int h = 0; h < kv.n_heads; ++h) {
    float* to = out.data() + h * head_size;
    unpack_half_head(kv, h, keys ? to : nullptr, keys ? nullptr : to);
  }
  return out;
}

void half_cache_attention(const float* q, int q_ld, int rows, const HalfKeyValues& kv, int head,
                          float scale, float* scores, float* out, int out_ld) {
  HWY_DYNAMIC_DISPATCH(HalfCacheAttention)(q, q_ld, rows, kv, head, scale, scores, out, out_ld);
}

}  // namespace amanuensis::kernels
#endif
