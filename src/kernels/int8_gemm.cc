#include "kernels/int8_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/vector_ops.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace amanuensis::kernels {

namespace {

int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

std::size_t packed_index(const Int8Matrix& m, int row, int col) {
  return ((static_cast<std::size_t>(row) / 16) * (m.padded_cols / 4) + col / 4) * 64 +
         (row % 16) * 4 + col % 4;
}

Int8Matrix allocate(int rows, int cols) {
  Int8Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.padded_rows = round_up(rows, 16);
  m.padded_cols = round_up(cols, 4);
  m.packed.assign(static_cast<std::size_t>(m.padded_rows) * m.padded_cols, 0);
  m.scales.assign(m.padded_rows, 0.0F);
  m.sums.assign(m.padded_rows, 0);
  return m;
}

inline std::int8_t round_to_int8(float v) {
  const float r = std::nearbyint(v);
  return static_cast<std::int8_t>(std::clamp(r, -127.0F, 127.0F));
}

}  // namespace

void Int8Matrix::dequantize_row(int row, float* out) const {
  for (int c = 0; c < cols; ++c) out[c] = static_cast<float>(q(row, c)) * scales[row];
}

Int8Matrix quantize_int8(const float* w, int rows, int cols, int ld) {
  auto m = allocate(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const float* row = w + static_cast<std::size_t>(r) * ld;
    const float max_value = max_abs(row, static_cast<std::size_t>(cols));
    const float inverse = max_value > 0.0F ? 127.0F / max_value : 0.0F;
    std::int32_t sum = 0;
    for (int c = 0; c < cols; ++c) {
      const std::int8_t q = round_to_int8(row[c] * inverse);
      m.packed[packed_index(m, r, c)] = q;
      sum += q;
    }
    m.scales[r] = max_value / 127.0F;
    m.sums[r] = sum;
  }
  return m;
}

Int8Matrix pack_int8(const std::int8_t* q, const float* ct2_scales, int rows, int cols) {
  auto m = allocate(rows, cols);
  for (int r = 0; r < rows; ++r) {
    std::int32_t sum = 0;
    for (int c = 0; c < cols; ++c) {
      const auto v =
          static_cast<std::int8_t>(std::max<int>(-127, q[static_cast<std::size_t>(r) * cols + c]));
      m.packed[packed_index(m, r, c)] = v;
      sum += v;
    }
    m.scales[r] = ct2_scales[r] != 0.0F ? 1.0F / ct2_scales[r] : 0.0F;
    m.sums[r] = sum;
  }
  return m;
}

void quantize_rows(CpuIsa isa, const float* x, int m, int k, int ldx, int padded_cols,
                   QuantizedRows& out) {
  out.rows = m;
  out.padded_cols = padded_cols;
  out.biased = isa == CpuIsa::kAvx512Vnni;
  out.data.resize(static_cast<std::size_t>(m) * padded_cols);
  out.scales.resize(m);
  const std::uint8_t bias = out.biased ? 0x80 : 0x00;
  for (int r = 0; r < m; ++r) {
    const float* row = x + static_cast<std::size_t>(r) * ldx;
    auto* q = reinterpret_cast<std::uint8_t*>(out.data.data() +
                                              static_cast<std::size_t>(r) * padded_cols);
    const float max_value = max_abs(row, static_cast<std::size_t>(k));
    const float inverse = max_value > 0.0F ? 127.0F / max_value : 0.0F;
    quantize_row(row, static_cast<std::size_t>(k), inverse, bias,
                 reinterpret_cast<std::int8_t*>(q));
    for (int c = k; c < padded_cols; ++c) q[c] = bias;
    out.scales[r] = max_value / 127.0F;
  }
}

namespace {

// ---- portable C++ ------------------------------------------------------------------------------
void gemm_generic(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                  const float* bias, float* y, int ldy) {
  const int k4 = w.padded_cols / 4;
  const int n_end = std::min(n1, w.rows);
  for (int r = r0; r < r1; ++r) {
    const std::int8_t* row = a.data.data() + static_cast<std::size_t>(r) * a.padded_cols;
    for (int n = n0; n < n_end; ++n) {
      const std::int8_t* wp =
          w.packed.data() + static_cast<std::size_t>(n / 16) * k4 * 64 + (n % 16) * 4;
      std::int32_t acc = 0;
      for (int kk = 0; kk < k4; ++kk) {
        for (int j = 0; j < 4; ++j) {
          int av = row[kk * 4 + j];
          if (a.biased) av = static_cast<int>(static_cast<std::uint8_t>(av)) - 128;
          acc += av * wp[static_cast<std::size_t>(kk) * 64 + j];
        }
      }
      y[static_cast<std::size_t>(r) * ldy + n] =
          static_cast<float>(acc) * a.scales[r] * w.scales[n] + (bias != nullptr ? bias[n] : 0.0F);
    }
  }
}

#if defined(__x86_64__)

// ---- AVX-512 VNNI: 8 rows x 32 columns per tile ---------------------------------------------
#define AMANUENSIS_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

// The products of one tile, kept apart from the scaling below: with both in one function GCC
// 12 copies and spills the accumulators on every step of the k loop, which ran this kernel at a
// third of the speed it reaches alone.
template <int MR, int NB>
AMANUENSIS_VNNI __attribute__((noinline)) void accumulate_vnni(const std::int8_t* a, int lda,
                                                               const std::int8_t* wp,
                                                               std::size_t block_stride, int k4,
                                                               std::int32_t* out) {
  __m512i acc[MR][NB];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_setzero_si512();
  }
  for (int kk = 0; kk < k4; ++kk, a += 4, wp += 64) {
    __m512i wv[NB];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) wv[b] = _mm512_loadu_si512(wp + b * block_stride);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      std::int32_t a4;
      std::memcpy(&a4, a + static_cast<std::ptrdiff_t>(r) * lda, 4);
      const __m512i av = _mm512_set1_epi32(a4);
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], av, wv[b]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) _mm512_storeu_si512(out + (r * NB + b) * 16, acc[r][b]);
  }
}

// One tile: MR rows x NB blocks of 16 output channels (vpdpbusd: unsigned a x signed w).
template <int MR, int NB>
AMANUENSIS_VNNI void tile_vnni(const std::int8_t* a, int lda, const float* a_scales,
                               const Int8Matrix& w, int block, const float* bias, float* y,
                               int ldy) {
  const int k4 = w.padded_cols / 4;
  const std::size_t block_stride = static_cast<std::size_t>(k4) * 64;
  alignas(64) std::int32_t products[MR * NB * 16];
  accumulate_vnni<MR, NB>(a, lda, w.packed.data() + static_cast<std::size_t>(block) * block_stride,
                          block_stride, k4, products);
  for (int b = 0; b < NB; ++b) {
    const int n = (block + b) * 16;
    const int valid = std::min(16, w.rows - n);
    if (valid <= 0) break;
    const auto mask = static_cast<__mmask16>((1U << valid) - 1U);
    const __m512 w_scales = _mm512_loadu_ps(w.scales.data() + n);
    // a was stored as q + 128: remove 128 * sum(w) from every product.
    const __m512i correction = _mm512_slli_epi32(_mm512_loadu_si512(w.sums.data() + n), 7);
    const __m512 bias_v =
        bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + n) : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) {
      const __m512i acc = _mm512_load_si512(products + (r * NB + b) * 16);
      const __m512 scaled =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, correction)),
                          _mm512_mul_ps(w_scales, _mm512_set1_ps(a_scales[r])), bias_v);
      _mm512_mask_storeu_ps(y + static_cast<std::size_t>(r) * ldy + n, mask, scaled);
    }
  }
}

template <int NB>
void tile_vnni_rows(int mr, const std::int8_t* a, int lda, const float* a_scales,
                    const Int8Matrix& w, int block, const float* bias, float* y, int ldy) {
  switch (mr) {
    case 1:
      return tile_vnni<1, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 2:
      return tile_vnni<2, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 3:
      return tile_vnni<3, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 4:
      return tile_vnni<4, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 5:
      return tile_vnni<5, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 6:
      return tile_vnni<6, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    case 7:
      return tile_vnni<7, NB>(a, lda, a_scales, w, block, bias, y, ldy);
    default:
      return tile_vnni<8, NB>(a, lda, a_scales, w, block, bias, y, ldy);
  }
}

void gemm_vnni(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy) {
  const int block_end = std::min(n1, w.padded_rows) / 16;
  for (int block = n0 / 16; block < block_end; block += 2) {
    for (int r = r0; r < r1; r += 8) {
      const int mr = std::min(8, r1 - r);
      const std::int8_t* ap = a.data.data() + static_cast<std::size_t>(r) * a.padded_cols;
      float* yp = y + static_cast<std::size_t>(r) * ldy;
      if (block + 1 < block_end) {
        tile_vnni_rows<2>(mr, ap, a.padded_cols, a.scales.data() + r, w, block, bias, yp, ldy);
      } else {
        tile_vnni_rows<1>(mr, ap, a.padded_cols, a.scales.data() + r, w, block, bias, yp, ldy);
      }
    }
  }
}

// ---- AVX2: 4 rows x 16 columns per tile; |a| x (w * sign a) through vpmaddubsw cannot saturate
// because both sides stay within [-127, 127].
#define AMANUENSIS_AVX2 __attribute__((target("avx2,fma")))

template <int MR>
AMANUENSIS_AVX2 void tile_avx2(const std::int8_t* a, int lda, const float* a_scales,
                               const Int8Matrix& w, int block, const float* bias, float* y,
                               int ldy) {
  const int k4 = w.padded_cols / 4;
  const std::int8_t* wp = w.packed.data() + static_cast<std::size_t>(block) * k4 * 64;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int kk = 0; kk < k4; ++kk) {
    const auto* wk = reinterpret_cast<const __m256i*>(wp + static_cast<std::size_t>(kk) * 64);
    const __m256i w0 = _mm256_loadu_si256(wk);
    const __m256i w1 = _mm256_loadu_si256(wk + 1);
    for (int r = 0; r < MR; ++r) {
      std::int32_t a4;
      std::memcpy(&a4, a + static_cast<std::size_t>(r) * lda + kk * 4, 4);
      const __m256i av = _mm256_set1_epi32(a4);
      const __m256i magnitude = _mm256_sign_epi8(av, av);
      acc[r][0] = _mm256_add_epi32(
          acc[r][0],
          _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w0, av)), ones));
      acc[r][1] = _mm256_add_epi32(
          acc[r][1],
          _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w1, av)), ones));
    }
  }
  for (int h = 0; h < 2; ++h) {
    const int n = block * 16 + h * 8;
    const int valid = std::min(8, w.rows - n);
    if (valid <= 0) break;
    const __m256 w_scales = _mm256_loadu_ps(w.scales.data() + n);
    for (int r = 0; r < MR; ++r) {
      const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][h]),
                                     _mm256_mul_ps(w_scales, _mm256_set1_ps(a_scales[r])));
      alignas(32) float out[8];
      _mm256_store_ps(out, v);
      float* yp = y + static_cast<std::size_t>(r) * ldy + n;
      for (int i = 0; i < valid; ++i) yp[i] = out[i] + (bias != nullptr ? bias[n + i] : 0.0F);
    }
  }
}

void gemm_avx2(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy) {
  const int block_end = std::min(n1, w.padded_rows) / 16;
  for (int block = n0 / 16; block < block_end; ++block) {
    for (int r = r0; r < r1; r += 4) {
      const int mr = std::min(4, r1 - r);
      const std::int8_t* ap = a.data.data() + static_cast<std::size_t>(r) * a.padded_cols;
      float* yp = y + static_cast<std::size_t>(r) * ldy;
      const float* scales = a.scales.data() + r;
      switch (mr) {
        case 1:
          tile_avx2<1>(ap, a.padded_cols, scales, w, block, bias, yp, ldy);
          break;
        case 2:
          tile_avx2<2>(ap, a.padded_cols, scales, w, block, bias, yp, ldy);
          break;
        case 3:
          tile_avx2<3>(ap, a.padded_cols, scales, w, block, bias, yp, ldy);
          break;
        default:
          tile_avx2<4>(ap, a.padded_cols, scales, w, block, bias, yp, ldy);
          break;
      }
    }
  }
}

#endif  // __x86_64__

}  // namespace

void int8_gemm(CpuIsa isa, const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
               int n1, const float* bias, float* y, int ldy) {
#if defined(__x86_64__)
  if (isa == CpuIsa::kAvx512Vnni && a.biased) return gemm_vnni(a, r0, r1, w, n0, n1, bias, y, ldy);
  if ((isa == CpuIsa::kAvx2 || isa == CpuIsa::kAvxVnni) && !a.biased)
    return gemm_avx2(a, r0, r1, w, n0, n1, bias, y, ldy);
#endif
  (void)isa;
  gemm_generic(a, r0, r1, w, n0, n1, bias, y, ldy);
}

}  // namespace amanuensis::kernels
