// The int16 flash attention's body, included by flash_attention_i16.cc once per encoding of the
// pair product (hence no include guard), with these defined:
//   AMAN_I16_NAMESPACE  a namespace of its own for each copy
//   AMAN_I16_TARGET     the target attribute of the functions that use the intrinsics
//   AMAN_I16_WIDTH      256 (ymm) or 512 (zmm)
//   AMAN_I16_DOT(c,a,b) c + the int32 sums of each lane's two int16 products of a and b:
//                       vpmaddwd + vpaddd (AVX2), or one vpdpwssd (AVX-VNNI, AVX-512 VNNI)
//   AMAN_I16_TILE       keys (scores) or dimensions (values) per micro-tile
//
// Layout as flash_attention.cc's kernels: a panel is 3 vectors of query rows (24 with ymm, 48
// with zmm), keys come 128 at a time, and micro-tiles are AMAN_I16_TILE keys (scores) or
// dimensions (values) by the panel. With vpdpwssd on ymm that is 4: 12 accumulators, the panel's
// 3 vectors and one broadcast, all 16 registers; vpmaddwd needs a register for its product
// before the add, so AVX2 takes 3 (9 accumulators; with 4 the compiler spills accumulators to
// the stack); zmm has 32 registers and takes 8 (24 accumulators). Each lane holds one query row's
// pair of adjacent dimensions (scores) or pair of consecutive keys' probabilities (values),
// against one broadcast pair of the key or of the value column.
//
// The body is written with AMAN_I16_V(op), the _mm256_op or _mm512_op of the width, and the
// few operations whose names differ are defined below. Every one of these macros, the
// includer's included, is undefined at the end.

#define AMAN_I16_CAT2(a, b) a##b
#define AMAN_I16_CAT(a, b) AMAN_I16_CAT2(a, b)
#if AMAN_I16_WIDTH == 512
#define AMAN_I16_V(op) AMAN_I16_CAT(_mm512_, op)
#define AMAN_I16_LOADU_SI(p) _mm512_loadu_si512(p)
#define AMAN_I16_STOREU_SI(p, v) _mm512_storeu_si512((p), (v))
#define AMAN_I16_SETZERO_SI() _mm512_setzero_si512()
#define AMAN_I16_OR_SI(a, b) _mm512_or_si512((a), (b))
#define AMAN_I16_AND_SI(a, b) _mm512_and_si512((a), (b))
#define AMAN_I16_CAST_PS(v) _mm512_castsi512_ps(v)
#define AMAN_I16_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#else
#define AMAN_I16_V(op) AMAN_I16_CAT(_mm256_, op)
#define AMAN_I16_LOADU_SI(p) _mm256_loadu_si256(p)
#define AMAN_I16_STOREU_SI(p, v) _mm256_storeu_si256((p), (v))
#define AMAN_I16_SETZERO_SI() _mm256_setzero_si256()
#define AMAN_I16_OR_SI(a, b) _mm256_or_si256((a), (b))
#define AMAN_I16_AND_SI(a, b) _mm256_and_si256((a), (b))
#define AMAN_I16_CAST_PS(v) _mm256_castsi256_ps(v)
#define AMAN_I16_ROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif

namespace amanuensis::kernels::i16_detail::AMAN_I16_NAMESPACE {

#if AMAN_I16_WIDTH == 512
using VF = __m512;
using VI = __m512i;
// 16 int32 lanes stored as int16 (saturating; they are within int16 already).
AMAN_I16_TARGET inline void store_int16(std::int16_t* out, VI v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtsepi32_epi16(v));
}
#else
using VF = __m256;
using VI = __m256i;
AMAN_I16_TARGET inline void store_int16(std::int16_t* out, VI v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                   _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}
#endif

constexpr int kLanes = static_cast<int>(sizeof(VF) / sizeof(float));
constexpr int kPanel = 3 * kLanes;
constexpr int kKeyTile = 128;
constexpr int kTile = AMAN_I16_TILE;

// Per-thread buffers of one panel: qt, the scaled queries as int16 pairs [dim / 2][kPanel], and
// qs, each row's scale; ot, the output transposed [dim][kPanel]; s, a key tile's scores
// [kKeyTile][kPanel]; p, its probabilities as int16 pairs of keys [kKeyTile / 2][kPanel]; per
// row m (running maximum), l (running sum) and alpha (last rescaling).
struct Panel {
  std::uint32_t* qt;
  float* qs;
  float* ot;
  float* s;
  std::uint32_t* p;
  float* m;
  float* l;
  float* alpha;
};

AMAN_I16_TARGET inline VI pair_at(const std::int16_t* p) {  // 2 int16 to every lane
  std::int32_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return AMAN_I16_V(set1_epi32)(w);
}

// Keeps a micro-tile row's accumulators in registers across the loop: without it GCC 12 moves
// them between registers, and spills one, on every step of the AVX2 kernel. (zmm: any of the 32.)
#if AMAN_I16_WIDTH == 512
AMAN_I16_TARGET inline void pin(VI (&c)[3]) { asm("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2])); }
#else
AMAN_I16_TARGET inline void pin(VI (&c)[3]) { asm("" : "+x"(c[0]), "+x"(c[1]), "+x"(c[2])); }
#endif

AMAN_I16_TARGET inline VI load_pairs(const std::uint32_t* p) {
  return AMAN_I16_LOADU_SI(reinterpret_cast<const VI*>(p));
}

// The largest |x[i]| for i in [0, n).
AMAN_I16_TARGET inline float largest_magnitude_of(const float* x, int n) {
  const VF sign = AMAN_I16_V(set1_ps)(-0.0F);
  VF top = AMAN_I16_V(setzero_ps)();
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    top = AMAN_I16_V(max_ps)(top, AMAN_I16_V(andnot_ps)(sign, AMAN_I16_V(loadu_ps)(x + i)));
  alignas(sizeof(VF)) float lanes[kLanes];
  AMAN_I16_V(store_ps)(lanes, top);
  float m = 0.0F;
  for (const float lane : lanes) m = std::max(m, lane);
  for (; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// The lanes of x times inverse, rounded to nearest even, as int32 (as std::lrint).
AMAN_I16_TARGET inline VI rounded(const float* x, VF inverse) {
  return AMAN_I16_V(cvtps_epi32)(AMAN_I16_V(mul_ps)(AMAN_I16_V(loadu_ps)(x), inverse));
}

// out[i] = x[i] * inverse rounded, for i in [0, n).
AMAN_I16_TARGET inline void round_row(const float* x, int n, float inverse, std::int16_t* out) {
  const VF inv = AMAN_I16_V(set1_ps)(inverse);
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) store_int16(out + i, rounded(x + i, inv));
  for (; i < n; ++i) out[i] = round_to(x[i], inverse);
}

// pack_i16_head (flash_attention_i16.h) with the same rounding, 8 lanes at a time.
AMAN_I16_TARGET void pack_head(const float* k, int k_ld, const float* v, int v_ld, int keys,
                               int dim, const I16Head& out) {
  for (int j = 0; j < keys; ++j) {
    const float* row = k + static_cast<std::ptrdiff_t>(j) * k_ld;
    const float top = largest_magnitude_of(row, dim);
    out.k_scale[j] = top / kQueryKeyMax;
    round_row(row, dim, top > 0.0F ? kQueryKeyMax / top : 0.0F,
              out.k + static_cast<std::size_t>(j) * dim);
  }
  alignas(sizeof(VF)) float inverse[kMaxDim];
  const VF sign = AMAN_I16_V(set1_ps)(-0.0F);
  int i = 0;
  for (; i + kLanes <= dim; i += kLanes) {
    VF top = AMAN_I16_V(setzero_ps)();
    for (int j = 0; j < keys; ++j) {
      top = AMAN_I16_V(max_ps)(
          top, AMAN_I16_V(andnot_ps)(
                   sign, AMAN_I16_V(loadu_ps)(v + static_cast<std::ptrdiff_t>(j) * v_ld + i)));
    }
    AMAN_I16_V(storeu_ps)(out.v_scale + i, AMAN_I16_V(div_ps)(top, AMAN_I16_V(set1_ps)(kValueMax)));
    AMAN_I16_V(store_ps)(inverse + i, AMAN_I16_V(div_ps)(AMAN_I16_V(set1_ps)(kValueMax), top));
  }
  for (; i < dim; ++i) {
    const float top = largest_magnitude(v + i, keys, v_ld);
    out.v_scale[i] = top / kValueMax;
    inverse[i] = kValueMax / top;
  }
  for (i = 0; i < dim; ++i) inverse[i] = out.v_scale[i] > 0.0F ? inverse[i] : 0.0F;
  const VI low = AMAN_I16_V(set1_epi32)(0xFFFF);
  for (int j = 0; j < keys; j += 2) {
    const float* lo = v + static_cast<std::ptrdiff_t>(j) * v_ld;
    const float* hi = j + 1 < keys ? lo + v_ld : nullptr;
    std::int16_t* to = out.v + static_cast<std::size_t>(j) * dim;  // pair j / 2
    int d = 0;
    for (; d + kLanes <= dim; d += kLanes) {
      const VF inv = AMAN_I16_V(load_ps)(inverse + d);
      const VI a = rounded(lo + d, inv);
      const VI b = hi != nullptr ? rounded(hi + d, inv) : AMAN_I16_SETZERO_SI();
      AMAN_I16_STOREU_SI(reinterpret_cast<VI*>(to + 2 * d),
                         AMAN_I16_OR_SI(AMAN_I16_AND_SI(a, low), AMAN_I16_V(slli_epi32)(b, 16)));
    }
    for (; d < dim; ++d) {
      to[2 * d] = round_to(lo[d], inverse[d]);
      to[2 * d + 1] = hi != nullptr ? round_to(hi[d], inverse[d]) : std::int16_t{0};
    }
  }
}

// Rows [p0, p0 + pr) of the queries times scale, each rounded to kQueryKeyMax steps of its own
// largest magnitude, as int16 pairs qt[dim / 2][kPanel] and scales qs[kPanel]; rows past pr
// zero. A row with a non-finite element gets a non-finite scale, so that its output is NaN, as
// in float32.
AMAN_I16_TARGET void quantize_queries(const Problem& pb, int p0, int pr, std::uint32_t* qt,
                                      float* qs) {
  const int half = pb.dim / 2;
  alignas(sizeof(VF)) std::int16_t row[kMaxDim];
  for (int r = 0; r < kPanel; ++r) {
    const float* qr = pb.q + static_cast<std::ptrdiff_t>(p0 + r) * pb.q_ld;
    const float top = r < pr ? largest_magnitude_of(qr, pb.dim) * pb.scale : 0.0F;
    if (top == 0.0F || !std::isfinite(top)) {
      qs[r] = top;
      for (int pp = 0; pp < half; ++pp) qt[pp * kPanel + r] = 0U;
      continue;
    }
    qs[r] = top / kQueryKeyMax;
    round_row(qr, pb.dim, kQueryKeyMax / top * pb.scale, row);
    for (int pp = 0; pp < half; ++pp) std::memcpy(qt + pp * kPanel + r, row + 2 * pp, 4);
  }
}

// exp(x) for x <= 0, within 3e-6 of itself: ExpNonPositive's reduction (flash_attention.cc),
// n = round(x / ln 2), r = x - n ln 2 in two parts, then exp(r) by its Taylor polynomial of
// degree 5 (|r| <= ln 2 / 2, so the first term left out is below 2.5e-6) instead of 7, since the
// probabilities are rounded to 1/8191 anyway; 2^n from exponent bits (x >= -87).
AMAN_I16_TARGET inline VF exp_non_positive(VF x) {
  x = AMAN_I16_V(max_ps)(x, AMAN_I16_V(set1_ps)(-87.0F));
  const VF n = AMAN_I16_ROUND(AMAN_I16_V(mul_ps)(x, AMAN_I16_V(set1_ps)(1.4426950408889634F)));
  VF r = AMAN_I16_V(fmadd_ps)(n, AMAN_I16_V(set1_ps)(-0.693145751953125F), x);
  r = AMAN_I16_V(fmadd_ps)(n, AMAN_I16_V(set1_ps)(-1.428606765330187045e-6F), r);
  VF p = AMAN_I16_V(set1_ps)(1.0F / 120.0F);
  p = AMAN_I16_V(fmadd_ps)(p, r, AMAN_I16_V(set1_ps)(1.0F / 24.0F));
  p = AMAN_I16_V(fmadd_ps)(p, r, AMAN_I16_V(set1_ps)(1.0F / 6.0F));
  p = AMAN_I16_V(fmadd_ps)(p, r, AMAN_I16_V(set1_ps)(0.5F));
  p = AMAN_I16_V(fmadd_ps)(p, r, AMAN_I16_V(set1_ps)(1.0F));
  p = AMAN_I16_V(fmadd_ps)(p, r, AMAN_I16_V(set1_ps)(1.0F));
  const VI bits = AMAN_I16_V(slli_epi32)(
      AMAN_I16_V(add_epi32)(AMAN_I16_V(cvtps_epi32)(n), AMAN_I16_V(set1_epi32)(127)), 23);
  return AMAN_I16_V(mul_ps)(p, AMAN_I16_CAST_PS(bits));
}

// s[j][row] = k_scale[j] qs[row] sum over dimension pairs of k[j] . qt, for kRows keys
// (kRows <= kTile) from k (rows of dim).
template <int kRows>
AMAN_I16_TARGET inline void score_tile(const Panel& b, int dim, const std::int16_t* k,
                                       const float* k_scale, float* s) {
  VI c[kRows][3];
#pragma GCC unroll 8
  for (int m = 0; m < kRows; ++m) c[m][0] = c[m][1] = c[m][2] = AMAN_I16_SETZERO_SI();
  for (int pp = 0; pp < dim / 2; ++pp) {
    const std::uint32_t* x = b.qt + pp * kPanel;
    const VI x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
#pragma GCC unroll 8
    for (int m = 0; m < kRows; ++m) {
      const VI key = pair_at(k + m * dim + 2 * pp);
      c[m][0] = AMAN_I16_DOT(c[m][0], key, x0);
      c[m][1] = AMAN_I16_DOT(c[m][1], key, x1);
      c[m][2] = AMAN_I16_DOT(c[m][2], key, x2);
      pin(c[m]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < kRows; ++m) {
    const VF ks = AMAN_I16_V(set1_ps)(k_scale[m]);
    for (int x = 0; x < 3; ++x) {
      const VF scale = AMAN_I16_V(mul_ps)(ks, AMAN_I16_V(loadu_ps)(b.qs + x * kLanes));
      AMAN_I16_V(storeu_ps)
      (s + m * kPanel + x * kLanes, AMAN_I16_V(mul_ps)(AMAN_I16_V(cvtepi32_ps)(c[m][x]), scale));
    }
  }
}

// ot[i][row] = alpha[row] ot[i][row] + v_scale[i] / 8191 sum over key pairs of v . p, for kRows
// dimensions (<= kTile); v points at the tile's first pair and dimension i0 of the [pairs][dim][2]
// layout, v_scale at dimension i0's scale.
template <int kRows>
AMAN_I16_TARGET inline void value_tile(const Panel& b, int pairs, const std::int16_t* v,
                                       const float* v_scale, int dim, float* ot) {
  VI c[kRows][3];
#pragma GCC unroll 8
  for (int m = 0; m < kRows; ++m) c[m][0] = c[m][1] = c[m][2] = AMAN_I16_SETZERO_SI();
  for (int jp = 0; jp < pairs; ++jp) {
    const std::uint32_t* x = b.p + jp * kPanel;
    const VI x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
    const std::int16_t* vj = v + static_cast<std::size_t>(jp) * dim * 2;
#pragma GCC unroll 8
    for (int m = 0; m < kRows; ++m) {
      const VI value = pair_at(vj + 2 * m);
      c[m][0] = AMAN_I16_DOT(c[m][0], value, x0);
      c[m][1] = AMAN_I16_DOT(c[m][1], value, x1);
      c[m][2] = AMAN_I16_DOT(c[m][2], value, x2);
      pin(c[m]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < kRows; ++m) {
    const VF vs = AMAN_I16_V(set1_ps)(v_scale[m] * (1.0F / kProbabilityOne));
    for (int x = 0; x < 3; ++x) {
      float* o = ot + m * kPanel + x * kLanes;
      const VF kept =
          AMAN_I16_V(mul_ps)(AMAN_I16_V(loadu_ps)(o), AMAN_I16_V(loadu_ps)(b.alpha + x * kLanes));
      AMAN_I16_V(storeu_ps)(o, AMAN_I16_V(fmadd_ps)(AMAN_I16_V(cvtepi32_ps)(c[m][x]), vs, kept));
    }
  }
}

// Online softmax of a tile's kt scores for each vector of rows (as flash_attention.cc), then the
// probabilities in units of 1/8191 as int16 pairs of consecutive keys (an odd last key paired
// with zero). The running sum takes the unrounded probabilities.
AMAN_I16_TARGET void softmax_tile(const Panel& b, int kt) {
  const VF one = AMAN_I16_V(set1_ps)(static_cast<float>(kProbabilityOne));
  for (int x = 0; x < 3; ++x) {
    float* sx = b.s + x * kLanes;
    VF top = AMAN_I16_V(loadu_ps)(b.m + x * kLanes);
    const VF old_max = top;
    for (int j = 0; j < kt; ++j)
      top = AMAN_I16_V(max_ps)(top, AMAN_I16_V(loadu_ps)(sx + j * kPanel));
    const VF alpha = exp_non_positive(AMAN_I16_V(sub_ps)(old_max, top));
    AMAN_I16_V(storeu_ps)(b.m + x * kLanes, top);
    AMAN_I16_V(storeu_ps)(b.alpha + x * kLanes, alpha);
    VF sum = AMAN_I16_V(setzero_ps)();
    for (int j = 0; j < kt; j += 2) {
      const VF e0 =
          exp_non_positive(AMAN_I16_V(sub_ps)(AMAN_I16_V(loadu_ps)(sx + j * kPanel), top));
      const VF e1 = j + 1 < kt ? exp_non_positive(AMAN_I16_V(sub_ps)(
                                     AMAN_I16_V(loadu_ps)(sx + (j + 1) * kPanel), top))
                               : AMAN_I16_V(setzero_ps)();
      sum = AMAN_I16_V(add_ps)(sum, AMAN_I16_V(add_ps)(e0, e1));
      const VI p0 = AMAN_I16_V(cvtps_epi32)(AMAN_I16_V(min_ps)(AMAN_I16_V(mul_ps)(e0, one), one));
      const VI p1 = AMAN_I16_V(cvtps_epi32)(AMAN_I16_V(min_ps)(AMAN_I16_V(mul_ps)(e1, one), one));
      AMAN_I16_STOREU_SI(reinterpret_cast<VI*>(b.p + (j / 2) * kPanel + x * kLanes),
                         AMAN_I16_OR_SI(p0, AMAN_I16_V(slli_epi32)(p1, 16)));
    }
    const VF l = AMAN_I16_V(loadu_ps)(b.l + x * kLanes);
    AMAN_I16_V(storeu_ps)(b.l + x * kLanes, AMAN_I16_V(fmadd_ps)(l, alpha, sum));
  }
}

// Rows [p0, p0 + pr) (pr <= kPanel; padding rows are zero and discarded) against every key.
AMAN_I16_TARGET void attend_panel(const Problem& pb, int p0, int pr, const Panel& b) {
  const int dim = pb.dim;
  quantize_queries(pb, p0, pr, b.qt, b.qs);
  for (int i = 0; i < dim * kPanel; ++i) b.ot[i] = 0.0F;
  for (int r = 0; r < kPanel; ++r) b.m[r] = -3.0e38F, b.l[r] = 0.0F;
  for (int j0 = 0; j0 < pb.keys; j0 += kKeyTile) {
    const int kt = pb.keys - j0 < kKeyTile ? pb.keys - j0 : kKeyTile;
    const std::int16_t* kj = pb.kv.k + static_cast<std::size_t>(j0) * dim;
    const float* ks = pb.kv.k_scale + j0;
    int j = 0;
    for (; j + kTile <= kt; j += kTile)
      score_tile<kTile>(b, dim, kj + j * dim, ks + j, b.s + j * kPanel);
    for (; j + 2 <= kt; j += 2) score_tile<2>(b, dim, kj + j * dim, ks + j, b.s + j * kPanel);
    if (j < kt) score_tile<1>(b, dim, kj + j * dim, ks + j, b.s + j * kPanel);
    softmax_tile(b, kt);
    const std::int16_t* vj = pb.kv.v + static_cast<std::size_t>(j0) * dim;  // pair j0 / 2
    const int pairs = (kt + 1) / 2;
    int i = 0;
    for (; i + kTile <= dim; i += kTile)
      value_tile<kTile>(b, pairs, vj + 2 * i, pb.kv.v_scale + i, dim, b.ot + i * kPanel);
    for (; i + 2 <= dim; i += 2)
      value_tile<2>(b, pairs, vj + 2 * i, pb.kv.v_scale + i, dim, b.ot + i * kPanel);
    if (i < dim) value_tile<1>(b, pairs, vj + 2 * i, pb.kv.v_scale + i, dim, b.ot + i * kPanel);
  }
  for (int x = 0; x < 3; ++x) {
    const VF inv =
        AMAN_I16_V(div_ps)(AMAN_I16_V(set1_ps)(1.0F), AMAN_I16_V(loadu_ps)(b.l + x * kLanes));
    for (int i = 0; i < dim; ++i) {
      float* o = b.ot + i * kPanel + x * kLanes;
      AMAN_I16_V(storeu_ps)(o, AMAN_I16_V(mul_ps)(AMAN_I16_V(loadu_ps)(o), inv));
    }
  }
  for (int r = 0; r < pr; ++r) {
    float* o = pb.out + static_cast<std::ptrdiff_t>(p0 + r) * pb.out_ld;
    for (int i = 0; i < dim; ++i) o[i] = b.ot[i * kPanel + r];
  }
}

void attend(const Problem& pb, int rows) {
  const auto dim = static_cast<std::size_t>(pb.dim);
  thread_local std::vector<float> floats;
  thread_local std::vector<std::uint32_t> pairs;
  floats.resize((dim + kKeyTile + 4) * kPanel);
  pairs.resize((dim / 2 + kKeyTile / 2) * kPanel);
  float* f = floats.data();
  const Panel b{pairs.data(),
                f,
                f + kPanel,
                f + (dim + 1) * kPanel,
                pairs.data() + dim / 2 * kPanel,
                f + (dim + kKeyTile + 1) * kPanel,
                f + (dim + kKeyTile + 2) * kPanel,
                f + (dim + kKeyTile + 3) * kPanel};
  for (int p0 = 0; p0 < rows; p0 += kPanel)
    attend_panel(pb, p0, rows - p0 < kPanel ? rows - p0 : kPanel, b);
}

}  // namespace amanuensis::kernels::i16_detail::AMAN_I16_NAMESPACE

#undef AMAN_I16_ROUND
#undef AMAN_I16_CAST_PS
#undef AMAN_I16_AND_SI
#undef AMAN_I16_OR_SI
#undef AMAN_I16_SETZERO_SI
#undef AMAN_I16_STOREU_SI
#undef AMAN_I16_LOADU_SI
#undef AMAN_I16_V
#undef AMAN_I16_CAT
#undef AMAN_I16_CAT2
// The includer's settings too, so that the next copy defines its own.
#undef AMAN_I16_DOT
#undef AMAN_I16_TILE
#undef AMAN_I16_TARGET
#undef AMAN_I16_NAMESPACE
#undef AMAN_I16_WIDTH
