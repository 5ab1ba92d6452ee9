#include "kernels/flash_attention_bf16.h"

#include <cstring>
#include <vector>

#include "kernels/cpu_isa.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AMAN_BF16_BUILT 1
#else
#define AMAN_BF16_BUILT 0
#endif

namespace amanuensis::kernels {

bool bf16_attention_supported() {
#if AMAN_BF16_BUILT
  static const bool supported =
      cpu_isa() == CpuIsa::kAvx512Vnni && __builtin_cpu_supports("avx512bf16");
  return supported;
#else
  return false;
#endif
}

std::size_t bf16_key_elements(int keys, int head_dim) {
  return static_cast<std::size_t>(keys) * head_dim;
}

std::size_t bf16_value_elements(int keys, int head_dim) {
  return static_cast<std::size_t>((keys + 1) / 2) * 2 * head_dim;
}

#if AMAN_BF16_BUILT
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as a masked source, which its
// -Wmaybe-uninitialized reports once they are inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace {

// Only these functions use AVX-512 BF16, and they call no library templates: an inline
// function instantiated here with these options could be the copy the linker keeps for
// callers on other CPUs.
#define AMAN_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")))

// A panel is 3 vectors of 16 query rows, as in flash_attention.cc; keys come 128 at a time and
// micro-tiles are 8 keys (scores) or 8 dimensions (values) by the panel: 24 accumulators.
constexpr int kLanes = 16;
constexpr int kPanel = 3 * kLanes;
constexpr int kKeyTile = 128;
constexpr int kTile = 8;

std::uint32_t bf16_bits(float x) {  // rounded to nearest even, as vcvtne2ps2bf16
  std::uint32_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return (b + 0x7FFFU + ((b >> 16) & 1U)) >> 16;
}

AMAN_BF16 inline __m512bh pair_at(const std::uint16_t* p) {  // 2 bf16 broadcast to every lane
  std::int32_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return (__m512bh)_mm512_set1_epi32(w);
}

AMAN_BF16 inline __m512bh load_pairs(const std::uint32_t* p) {
  return (__m512bh)_mm512_loadu_si512(p);
}

// (lo[l], hi[l]) in 32-bit lane l, each rounded to bfloat16.
AMAN_BF16 inline __m512i interleave_bf16(__m512 lo, __m512 hi) {
  const __m512i index = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(index, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// exp(x) for x <= 0, as ExpNonPositive in flash_attention.cc (same reduction and polynomial).
AMAN_BF16 inline __m512 exp_non_positive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0F));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634F)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693145751953125F), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-1.428606765330187045e-6F), r);
  __m512 p = _mm512_set1_ps(0.000198527617612853646278381F);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.00139304355252534151077271F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.00833336077630519866943359F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0416664853692054748535156F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166666671633720397949219F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0F));
  return _mm512_scalef_ps(p, n);
}

// Per-thread buffers of one panel: qt, the scaled queries as bf16 pairs [dim / 2][kPanel];
// ot, the output transposed [dim][kPanel]; s, a key tile's scores [kKeyTile][kPanel]; p, its
// probabilities as bf16 pairs of keys [kKeyTile / 2][kPanel]; per row m (running maximum),
// l (running sum) and alpha (last rescaling).
struct Panel {
  std::uint32_t* qt;
  float* ot;
  float* s;
  std::uint32_t* p;
  float* m;
  float* l;
  float* alpha;
};

// s[j][row] = sum over dimension pairs of k[j] . qt, for kRows keys (kRows <= 8) from k (rows of
// dim).
template <int kRows>
AMAN_BF16 inline void score_tile(const Panel& b, int dim, const std::uint16_t* k, float* s) {
  __m512 c[kRows][3];
  for (int m = 0; m < kRows; ++m) c[m][0] = c[m][1] = c[m][2] = _mm512_setzero_ps();
  for (int pp = 0; pp < dim / 2; ++pp) {
    const std::uint32_t* x = b.qt + pp * kPanel;
    const __m512bh x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
    for (int m = 0; m < kRows; ++m) {
      const __m512bh key = pair_at(k + m * dim + 2 * pp);
      c[m][0] = _mm512_dpbf16_ps(c[m][0], key, x0);
      c[m][1] = _mm512_dpbf16_ps(c[m][1], key, x1);
      c[m][2] = _mm512_dpbf16_ps(c[m][2], key, x2);
    }
  }
  for (int m = 0; m < kRows; ++m) {
    for (int x = 0; x < 3; ++x) _mm512_storeu_ps(s + m * kPanel + x * kLanes, c[m][x]);
  }
}

// ot[i][row] = alpha[row] ot[i][row] + sum over key pairs of v . p, for kRows dimensions (<= 8);
// v points at the tile's first pair and dimension i0 of the [pairs][dim][2] layout.
template <int kRows>
AMAN_BF16 inline void value_tile(const Panel& b, int pairs, const std::uint16_t* v, int dim,
                                 float* ot) {
  __m512 a[3];
  for (int x = 0; x < 3; ++x) a[x] = _mm512_loadu_ps(b.alpha + x * kLanes);
  __m512 c[kRows][3];
  for (int m = 0; m < kRows; ++m) {
    for (int x = 0; x < 3; ++x)
      c[m][x] = _mm512_mul_ps(_mm512_loadu_ps(ot + m * kPanel + x * kLanes), a[x]);
  }
  for (int jp = 0; jp < pairs; ++jp) {
    const std::uint32_t* x = b.p + jp * kPanel;
    const __m512bh x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
    const std::uint16_t* vj = v + static_cast<std::size_t>(jp) * dim * 2;
    for (int m = 0; m < kRows; ++m) {
      const __m512bh value = pair_at(vj + 2 * m);
      c[m][0] = _mm512_dpbf16_ps(c[m][0], value, x0);
      c[m][1] = _mm512_dpbf16_ps(c[m][1], value, x1);
      c[m][2] = _mm512_dpbf16_ps(c[m][2], value, x2);
    }
  }
  for (int m = 0; m < kRows; ++m) {
    for (int x = 0; x < 3; ++x) _mm512_storeu_ps(ot + m * kPanel + x * kLanes, c[m][x]);
  }
}

// Online softmax of a tile's kt scores for each vector of rows (as flash_attention.cc), then the
// probabilities as bf16 pairs of consecutive keys (an odd last key paired with zero).
AMAN_BF16 void softmax_tile(const Panel& b, int kt) {
  for (int x = 0; x < 3; ++x) {
    float* sx = b.s + x * kLanes;
    __m512 top = _mm512_loadu_ps(b.m + x * kLanes);
    const __m512 old_max = top;
    for (int j = 0; j < kt; ++j) top = _mm512_max_ps(top, _mm512_loadu_ps(sx + j * kPanel));
    const __m512 alpha = exp_non_positive(_mm512_sub_ps(old_max, top));
    _mm512_storeu_ps(b.m + x * kLanes, top);
    _mm512_storeu_ps(b.alpha + x * kLanes, alpha);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < kt; j += 2) {
      const __m512 e0 = exp_non_positive(_mm512_sub_ps(_mm512_loadu_ps(sx + j * kPanel), top));
      const __m512 e1 =
          j + 1 < kt ? exp_non_positive(_mm512_sub_ps(_mm512_loadu_ps(sx + (j + 1) * kPanel), top))
                     : _mm512_setzero_ps();
      sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
      _mm512_storeu_si512(b.p + (j / 2) * kPanel + x * kLanes, interleave_bf16(e0, e1));
    }
    const __m512 l = _mm512_loadu_ps(b.l + x * kLanes);
    _mm512_storeu_ps(b.l + x * kLanes, _mm512_fmadd_ps(l, alpha, sum));
  }
}

struct Problem {
  const float* q;
  int q_ld;
  const std::uint16_t* k;
  const std::uint16_t* v;
  int keys;
  int dim;
  float scale;
  float* out;
  int out_ld;
};

// Rows [p0, p0 + pr) (pr <= kPanel; padding rows are zero and discarded) against every key.
AMAN_BF16 void attend_panel(const Problem& pb, int p0, int pr, const Panel& b) {
  const int dim = pb.dim;
  for (int r = 0; r < kPanel; ++r) {
    const float* qr = pb.q + static_cast<std::ptrdiff_t>(p0 + r) * pb.q_ld;
    for (int pp = 0; pp < dim / 2; ++pp) {
      b.qt[pp * kPanel + r] =
          r < pr ? bf16_bits(qr[2 * pp] * pb.scale) | bf16_bits(qr[2 * pp + 1] * pb.scale) << 16
                 : 0U;
    }
  }
  for (int i = 0; i < dim * kPanel; ++i) b.ot[i] = 0.0F;
  for (int r = 0; r < kPanel; ++r) b.m[r] = -3.0e38F, b.l[r] = 0.0F;
  for (int j0 = 0; j0 < pb.keys; j0 += kKeyTile) {
    const int kt = pb.keys - j0 < kKeyTile ? pb.keys - j0 : kKeyTile;
    const std::uint16_t* kj = pb.k + static_cast<std::size_t>(j0) * dim;
    int j = 0;
    for (; j + kTile <= kt; j += kTile) score_tile<kTile>(b, dim, kj + j * dim, b.s + j * kPanel);
    for (; j + 2 <= kt; j += 2) score_tile<2>(b, dim, kj + j * dim, b.s + j * kPanel);
    if (j < kt) score_tile<1>(b, dim, kj + j * dim, b.s + j * kPanel);
    softmax_tile(b, kt);
    const std::uint16_t* vj = pb.v + static_cast<std::size_t>(j0) * dim;  // pair j0 / 2
    const int pairs = (kt + 1) / 2;
    int i = 0;
    for (; i + kTile <= dim; i += kTile)
      value_tile<kTile>(b, pairs, vj + 2 * i, dim, b.ot + i * kPanel);
    for (; i < dim; i += 2) value_tile<2>(b, pairs, vj + 2 * i, dim, b.ot + i * kPanel);
  }
  for (int x = 0; x < 3; ++x) {
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0F), _mm512_loadu_ps(b.l + x * kLanes));
    for (int i = 0; i < dim; ++i) {
      float* o = b.ot + i * kPanel + x * kLanes;
      _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_loadu_ps(o), inv));
    }
  }
  for (int r = 0; r < pr; ++r) {
    float* o = pb.out + static_cast<std::ptrdiff_t>(p0 + r) * pb.out_ld;
    for (int i = 0; i < dim; ++i) o[i] = b.ot[i * kPanel + r];
  }
}

AMAN_BF16 void pack_rows(const float* k, int k_ld, const float* v, int v_ld, int keys, int dim,
                         std::uint16_t* k_out, std::uint16_t* v_out) {
  for (int j = 0; j < keys; ++j) {
    const float* row = k + static_cast<std::ptrdiff_t>(j) * k_ld;
    std::uint16_t* to = k_out + static_cast<std::size_t>(j) * dim;
    int i = 0;
    for (; i + 2 * kLanes <= dim; i += 2 * kLanes) {
      const __m512bh h =
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + i + kLanes), _mm512_loadu_ps(row + i));
      _mm512_storeu_si512(to + i, (__m512i)h);
    }
    for (; i < dim; ++i) to[i] = static_cast<std::uint16_t>(bf16_bits(row[i]));
  }
  for (int j = 0; j < keys; j += 2) {
    const float* lo = v + static_cast<std::ptrdiff_t>(j) * v_ld;
    const float* hi = j + 1 < keys ? lo + v_ld : nullptr;
    std::uint16_t* to = v_out + static_cast<std::size_t>(j) * dim;  // pair j / 2
    int i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
      const __m512 h = hi != nullptr ? _mm512_loadu_ps(hi + i) : _mm512_setzero_ps();
      _mm512_storeu_si512(to + 2 * i, interleave_bf16(_mm512_loadu_ps(lo + i), h));
    }
    for (; i < dim; ++i) {
      to[2 * i] = static_cast<std::uint16_t>(bf16_bits(lo[i]));
      to[2 * i + 1] = hi != nullptr ? static_cast<std::uint16_t>(bf16_bits(hi[i])) : 0;
    }
  }
}

#undef AMAN_BF16

}  // namespace

void pack_bf16_head(const float* k, int k_ld, const float* v, int v_ld, int keys, int head_dim,
                    std::uint16_t* k_out, std::uint16_t* v_out) {
  pack_rows(k, k_ld, v, v_ld, keys, head_dim, k_out, v_out);
}

void flash_attention_bf16(const float* q, int q_ld, int rows, const std::uint16_t* k,
                          const std::uint16_t* v, int keys, int head_dim, float scale, float* out,
                          int out_ld) {
  if (keys <= 0) {
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < head_dim; ++i) out[static_cast<std::ptrdiff_t>(r) * out_ld + i] = 0.0F;
    }
    return;
  }
  const auto dim = static_cast<std::size_t>(head_dim);
  thread_local std::vector<float> floats;
  thread_local std::vector<std::uint32_t> pairs;
  floats.resize((dim + kKeyTile + 3) * kPanel);
  pairs.resize((dim / 2 + kKeyTile / 2) * kPanel);
  float* f = floats.data();
  const Panel b{pairs.data(),
                f,
                f + dim * kPanel,
                pairs.data() + dim / 2 * kPanel,
                f + (dim + kKeyTile) * kPanel,
                f + (dim + kKeyTile + 1) * kPanel,
                f + (dim + kKeyTile + 2) * kPanel};
  const Problem pb{q, q_ld, k, v, keys, head_dim, scale, out, out_ld};
  for (int p0 = 0; p0 < rows; p0 += kPanel)
    attend_panel(pb, p0, rows - p0 < kPanel ? rows - p0 : kPanel, b);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#else  // not x86: never called (bf16_attention_supported() is false)

void pack_bf16_head(const float*, int, const float*, int, int, int, std::uint16_t*,
                    std::uint16_t*) {}
void flash_attention_bf16(const float*, int, int, const std::uint16_t*, const std::uint16_t*, int,
                          int, float, float*, int) {}

#endif

}  // namespace amanuensis::kernels
