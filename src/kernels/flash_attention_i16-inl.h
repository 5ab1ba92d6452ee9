// The int16 flash attention's body, included by flash_attention_i16.cc once per encoding of the
// pair product (hence no include guard), with these defined:
//   AMAN_I16_NAMESPACE  a namespace of its own for each copy
//   AMAN_I16_TARGET     the target attribute of the functions that use the intrinsics
//   AMAN_I16_DOT(c,a,b) c + the int32 sums of each lane's two int16 products of a and b:
//                       vpmaddwd + vpaddd (AVX2), or one vpdpwssd (AVX-VNNI, AVX-512 VNNI + VL)
//   AMAN_I16_TILE       keys (scores) or dimensions (values) per micro-tile
//
// Layout as flash_attention.cc's AVX2 kernel: a panel is 3 vectors of 8 query rows, keys come
// 128 at a time, and micro-tiles are AMAN_I16_TILE keys (scores) or dimensions (values) by the
// panel. With vpdpwssd that is 4: 12 accumulators, the panel's 3 vectors and one broadcast, all
// 16 ymm registers; vpmaddwd needs a register for its product before the add, so AVX2 takes 3
// (9 accumulators; with 4 the compiler spills accumulators to the stack). Each lane holds
// one query row's pair of adjacent dimensions (scores) or pair of consecutive keys' probabilities
// (values), against one broadcast pair of the key or of the value column.

namespace amanuensis::kernels::i16_detail::AMAN_I16_NAMESPACE {

constexpr int kLanes = 8;
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

AMAN_I16_TARGET inline __m256i pair_at(const std::int16_t* p) {  // 2 int16 to every lane
  std::int32_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return _mm256_set1_epi32(w);
}

// Keeps a micro-tile row's accumulators in registers across the loop: without it GCC 12 moves
// them between registers, and spills one, on every step of the AVX2 kernel.
AMAN_I16_TARGET inline void pin(__m256i (&c)[3]) { asm("" : "+x"(c[0]), "+x"(c[1]), "+x"(c[2])); }

AMAN_I16_TARGET inline __m256i load_pairs(const std::uint32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The largest |x[i]| for i in [0, n).
AMAN_I16_TARGET inline float largest_magnitude_of(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0F);
  __m256 top = _mm256_setzero_ps();
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    top = _mm256_max_ps(top, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  alignas(32) float lanes[kLanes];
  _mm256_store_ps(lanes, top);
  float m = 0.0F;
  for (const float lane : lanes) m = std::max(m, lane);
  for (; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// The lanes of x times inverse, rounded to nearest even, as int32 (as std::lrint).
AMAN_I16_TARGET inline __m256i rounded(const float* x, __m256 inverse) {
  return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), inverse));
}

// out[i] = x[i] * inverse rounded, for i in [0, n).
AMAN_I16_TARGET inline void round_row(const float* x, int n, float inverse, std::int16_t* out) {
  const __m256 inv = _mm256_set1_ps(inverse);
  int i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const __m256i packed = _mm256_packs_epi32(rounded(x + i, inv), rounded(x + i + kLanes, inv));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permute4x64_epi64(packed, 0xD8));  // packs works per 128 bits
  }
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
  alignas(32) float inverse[kMaxDim];
  const __m256 sign = _mm256_set1_ps(-0.0F);
  int i = 0;
  for (; i + kLanes <= dim; i += kLanes) {
    __m256 top = _mm256_setzero_ps();
    for (int j = 0; j < keys; ++j) {
      top = _mm256_max_ps(
          top,
          _mm256_andnot_ps(sign, _mm256_loadu_ps(v + static_cast<std::ptrdiff_t>(j) * v_ld + i)));
    }
    _mm256_storeu_ps(out.v_scale + i, _mm256_div_ps(top, _mm256_set1_ps(kValueMax)));
    _mm256_store_ps(inverse + i, _mm256_div_ps(_mm256_set1_ps(kValueMax), top));
  }
  for (; i < dim; ++i) {
    const float top = largest_magnitude(v + i, keys, v_ld);
    out.v_scale[i] = top / kValueMax;
    inverse[i] = kValueMax / top;
  }
  for (i = 0; i < dim; ++i) inverse[i] = out.v_scale[i] > 0.0F ? inverse[i] : 0.0F;
  const __m256i low = _mm256_set1_epi32(0xFFFF);
  for (int j = 0; j < keys; j += 2) {
    const float* lo = v + static_cast<std::ptrdiff_t>(j) * v_ld;
    const float* hi = j + 1 < keys ? lo + v_ld : nullptr;
    std::int16_t* to = out.v + static_cast<std::size_t>(j) * dim;  // pair j / 2
    int d = 0;
    for (; d + kLanes <= dim; d += kLanes) {
      const __m256 inv = _mm256_load_ps(inverse + d);
      const __m256i a = rounded(lo + d, inv);
      const __m256i b = hi != nullptr ? rounded(hi + d, inv) : _mm256_setzero_si256();
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + 2 * d),
                          _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi32(b, 16)));
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
  alignas(32) std::int16_t row[kMaxDim];
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
AMAN_I16_TARGET inline __m256 exp_non_positive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0F));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.4426950408889634F)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693145751953125F), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-1.428606765330187045e-6F), r);
  __m256 p = _mm256_set1_ps(1.0F / 120.0F);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0F / 24.0F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0F / 6.0F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0F));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// s[j][row] = k_scale[j] qs[row] sum over dimension pairs of k[j] . qt, for kRows keys
// (kRows <= kTile) from k (rows of dim).
template <int kRows>
AMAN_I16_TARGET inline void score_tile(const Panel& b, int dim, const std::int16_t* k,
                                       const float* k_scale, float* s) {
  __m256i c[kRows][3];
#pragma GCC unroll 4
  for (int m = 0; m < kRows; ++m) c[m][0] = c[m][1] = c[m][2] = _mm256_setzero_si256();
  for (int pp = 0; pp < dim / 2; ++pp) {
    const std::uint32_t* x = b.qt + pp * kPanel;
    const __m256i x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
#pragma GCC unroll 4
    for (int m = 0; m < kRows; ++m) {
      const __m256i key = pair_at(k + m * dim + 2 * pp);
      c[m][0] = AMAN_I16_DOT(c[m][0], key, x0);
      c[m][1] = AMAN_I16_DOT(c[m][1], key, x1);
      c[m][2] = AMAN_I16_DOT(c[m][2], key, x2);
      pin(c[m]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < kRows; ++m) {
    const __m256 ks = _mm256_set1_ps(k_scale[m]);
    for (int x = 0; x < 3; ++x) {
      const __m256 scale = _mm256_mul_ps(ks, _mm256_loadu_ps(b.qs + x * kLanes));
      _mm256_storeu_ps(s + m * kPanel + x * kLanes,
                       _mm256_mul_ps(_mm256_cvtepi32_ps(c[m][x]), scale));
    }
  }
}

// ot[i][row] = alpha[row] ot[i][row] + v_scale[i] / 8191 sum over key pairs of v . p, for kRows
// dimensions (<= kTile); v points at the tile's first pair and dimension i0 of the [pairs][dim][2]
// layout, v_scale at dimension i0's scale.
template <int kRows>
AMAN_I16_TARGET inline void value_tile(const Panel& b, int pairs, const std::int16_t* v,
                                       const float* v_scale, int dim, float* ot) {
  __m256i c[kRows][3];
#pragma GCC unroll 4
  for (int m = 0; m < kRows; ++m) c[m][0] = c[m][1] = c[m][2] = _mm256_setzero_si256();
  for (int jp = 0; jp < pairs; ++jp) {
    const std::uint32_t* x = b.p + jp * kPanel;
    const __m256i x0 = load_pairs(x), x1 = load_pairs(x + kLanes), x2 = load_pairs(x + 2 * kLanes);
    const std::int16_t* vj = v + static_cast<std::size_t>(jp) * dim * 2;
#pragma GCC unroll 4
    for (int m = 0; m < kRows; ++m) {
      const __m256i value = pair_at(vj + 2 * m);
      c[m][0] = AMAN_I16_DOT(c[m][0], value, x0);
      c[m][1] = AMAN_I16_DOT(c[m][1], value, x1);
      c[m][2] = AMAN_I16_DOT(c[m][2], value, x2);
      pin(c[m]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < kRows; ++m) {
    const __m256 vs = _mm256_set1_ps(v_scale[m] * (1.0F / kProbabilityOne));
    for (int x = 0; x < 3; ++x) {
      float* o = ot + m * kPanel + x * kLanes;
      const __m256 kept = _mm256_mul_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(b.alpha + x * kLanes));
      _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(c[m][x]), vs, kept));
    }
  }
}

// Online softmax of a tile's kt scores for each vector of rows (as flash_attention.cc), then the
// probabilities in units of 1/8191 as int16 pairs of consecutive keys (an odd last key paired
// with zero). The running sum takes the unrounded probabilities.
AMAN_I16_TARGET void softmax_tile(const Panel& b, int kt) {
  const __m256 one = _mm256_set1_ps(static_cast<float>(kProbabilityOne));
  for (int x = 0; x < 3; ++x) {
    float* sx = b.s + x * kLanes;
    __m256 top = _mm256_loadu_ps(b.m + x * kLanes);
    const __m256 old_max = top;
    for (int j = 0; j < kt; ++j) top = _mm256_max_ps(top, _mm256_loadu_ps(sx + j * kPanel));
    const __m256 alpha = exp_non_positive(_mm256_sub_ps(old_max, top));
    _mm256_storeu_ps(b.m + x * kLanes, top);
    _mm256_storeu_ps(b.alpha + x * kLanes, alpha);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < kt; j += 2) {
      const __m256 e0 = exp_non_positive(_mm256_sub_ps(_mm256_loadu_ps(sx + j * kPanel), top));
      const __m256 e1 =
          j + 1 < kt ? exp_non_positive(_mm256_sub_ps(_mm256_loadu_ps(sx + (j + 1) * kPanel), top))
                     : _mm256_setzero_ps();
      sum = _mm256_add_ps(sum, _mm256_add_ps(e0, e1));
      const __m256i p0 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_mul_ps(e0, one), one));
      const __m256i p1 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_mul_ps(e1, one), one));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.p + (j / 2) * kPanel + x * kLanes),
                          _mm256_or_si256(p0, _mm256_slli_epi32(p1, 16)));
    }
    const __m256 l = _mm256_loadu_ps(b.l + x * kLanes);
    _mm256_storeu_ps(b.l + x * kLanes, _mm256_fmadd_ps(l, alpha, sum));
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
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0F), _mm256_loadu_ps(b.l + x * kLanes));
    for (int i = 0; i < dim; ++i) {
      float* o = b.ot + i * kPanel + x * kLanes;
      _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_loadu_ps(o), inv));
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
