// The avx2 path: exact int8 products with vpmaddubsw (int8_gemm.h explains the xor-sign form).
//
// Tile: up to 5 rows x 16 output channels (one packed panel), 10 accumulators in ymm registers,
// the panel's two vectors, |a| and the sign mask of the row being multiplied, one temporary and
// the vector of int16 ones: the 16 registers AVX2 has. Per 4 values of k and row and 8 channels:
// vpxor (any of Zen's four vector pipes), vpmaddubsw and vpmaddwd (the two multiply pipes),
// vpaddd (any): 32 multiply-adds in 2 multiply-pipe instructions, the most AVX2 allows.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/int8_gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace amanuensis::kernels::int8_detail {

namespace {

#define AMANUENSIS_AVX2 __attribute__((target("avx2,fma")))

constexpr int kMaxRows = 5;

AMANUENSIS_AVX2 inline __m256i broadcast4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// acc[r][0..15] = sum over k of |a[r]| * (w xor s[r]) for one 16-channel panel. Its own function,
// apart from the epilogue, so that GCC keeps the accumulators in registers (with both in one
// function GCC 12 spilled them on every k step of the AVX-512 kernel). With kPrefetch, also pulls
// the next panel (`next`) into L1 one line per k step, during the last row tile of this one.
template <int kRowTile, bool kPrefetch>
AMANUENSIS_AVX2 __attribute__((noinline)) void accumulate(const std::int8_t* magnitude,
                                                          const std::int8_t* signs, int lda,
                                                          const std::int8_t* panel,
                                                          const std::int8_t* next, int k4,
                                                          std::int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[kRowTile][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 2
  for (int kk = 0; kk < k4; ++kk) {
    const auto* wk = reinterpret_cast<const __m256i*>(panel + static_cast<std::ptrdiff_t>(kk) * 64);
    const __m256i w0 = _mm256_loadu_si256(wk);
    const __m256i w1 = _mm256_loadu_si256(wk + 1);
    if constexpr (kPrefetch) _mm_prefetch(next + static_cast<std::ptrdiff_t>(kk) * 64, _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r) {
      const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(r) * lda + kk * 4;
      const __m256i m = broadcast4(magnitude + at);
      const __m256i s = broadcast4(signs + at);
      acc[r][0] = _mm256_add_epi32(
          acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_xor_si256(w0, s)), ones));
      acc[r][1] = _mm256_add_epi32(
          acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_xor_si256(w1, s)), ones));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * 16), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * 16 + 8), acc[r][1]);
  }
}

using AccumulateFn = void (*)(const std::int8_t*, const std::int8_t*, int, const std::int8_t*,
                              const std::int8_t*, int, std::int32_t*);

template <bool kPrefetch>
AccumulateFn accumulate_for(int mr) {
  switch (mr) {
    case 1:
      return accumulate<1, kPrefetch>;
    case 2:
      return accumulate<2, kPrefetch>;
    case 3:
      return accumulate<3, kPrefetch>;
    case 4:
      return accumulate<4, kPrefetch>;
    default:
      return accumulate<5, kPrefetch>;
  }
}

}  // namespace

AMANUENSIS_AVX2 void store_tile_ymm(const std::int32_t* acc, int mr, int valid,
                                    const float* a_scales, TileOffsets offsets, Rounding rounding,
                                    const float* w_scales, const float* bias, float* y, int ldy) {
  for (int h = 0; h < 2 && h * 8 < valid; ++h) {
    const int lanes = std::min(8, valid - h * 8);
    // Padded channels (beyond w.rows) have scale 0 and sum 0; reading them is harmless.
    const __m256 w_scale = _mm256_loadu_ps(w_scales + h * 8);
    const __m256i col =
        offsets.cols == nullptr
            ? _mm256_setzero_si256()
            : _mm256_sll_epi32(
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets.cols + h * 8)),
                  _mm_cvtsi32_si128(offsets.col_shift));
    // bias has only w.rows entries: a partial group of lanes reads it through a copy.
    __m256 b = _mm256_setzero_ps();
    if (bias != nullptr && lanes == 8) {
      b = _mm256_loadu_ps(bias + h * 8);
    } else if (bias != nullptr) {
      alignas(32) float bias_lanes[8] = {};
      std::copy(bias + h * 8, bias + h * 8 + lanes, bias_lanes);
      b = _mm256_load_ps(bias_lanes);
    }
    for (int r = 0; r < mr; ++r) {
      __m256i dot = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + r * 16 + h * 8));
      if (offsets.rows != nullptr) dot = _mm256_add_epi32(dot, _mm256_set1_epi32(offsets.rows[r]));
      dot = _mm256_sub_epi32(dot, col);
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scales[r]), w_scale);
      __m256 v;
      if (rounding == Rounding::kFused) {
        v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, b);
      } else {
        __m256 product = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), scale);
        // Keeps GCC (-ffp-contract=fast by default) from fusing the multiply into the add.
        __asm__("" : "+x"(product));
        v = _mm256_add_ps(product, b);
      }
      float* out = y + static_cast<std::ptrdiff_t>(r) * ldy + h * 8;
      if (lanes == 8) {
        _mm256_storeu_ps(out, v);
      } else {
        alignas(32) float lanes_out[8];
        _mm256_store_ps(lanes_out, v);
        std::copy(lanes_out, lanes_out + lanes, out);
      }
    }
  }
}

AMANUENSIS_AVX2 void store_blocks_ymm(const float* sums, int mr, int valid, const float* a_scales,
                                      const float* bias, float* y, int ldy) {
  for (int h = 0; h < 2 && h * 8 < valid; ++h) {
    const int lanes = std::min(8, valid - h * 8);
    alignas(32) float bias_lanes[8] = {};
    if (bias != nullptr) std::copy(bias + h * 8, bias + h * 8 + lanes, bias_lanes);
    const __m256 b = _mm256_load_ps(bias_lanes);
    for (int r = 0; r < mr; ++r) {
      const __m256 v =
          _mm256_fmadd_ps(_mm256_loadu_ps(sums + r * 16 + h * 8), _mm256_set1_ps(a_scales[r]), b);
      alignas(32) float lanes_out[8];
      _mm256_store_ps(lanes_out, v);
      std::copy(lanes_out, lanes_out + lanes, y + static_cast<std::ptrdiff_t>(r) * ldy + h * 8);
    }
  }
}

namespace {

// Block-mode weights (int8_gemm.h): as accumulate, but each 32-column block's products (plus
// the row's sum of negative |a| over that block) are scaled by the block's scales into the float
// sums out[r * 16 + c] (zeroed here). Tiles are as tall as accumulate's, 5 rows; the float sums
// live in `out` (L1), read and written once per block.
constexpr int kMaxBlockRows = kMaxRows;

template <int kRowTile>
AMANUENSIS_AVX2 __attribute__((noinline)) void accumulate_blocks(
    const std::int8_t* magnitude, const std::int8_t* signs, int lda, const std::int8_t* panel,
    int blocks, const std::int32_t* negative_sums, const float* scales, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  std::fill_n(out, kRowTile * 16, 0.0F);
  for (int kb = 0; kb < blocks; ++kb) {
    __m256i acc[kRowTile][2];
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    // A constant trip count, unrolled twice (fully, GCC 12 hoists the loads and spills).
    const std::ptrdiff_t k0 = static_cast<std::ptrdiff_t>(kb) * kInt8BlockColumns;
    const std::int8_t* pk = panel + k0 * 16;
#pragma GCC unroll 2
    for (int kk = 0; kk < kInt8BlockColumns / 4; ++kk) {
      const auto* wk = reinterpret_cast<const __m256i*>(pk + kk * 64);
      const __m256i w0 = _mm256_loadu_si256(wk);
      const __m256i w1 = _mm256_loadu_si256(wk + 1);
#pragma GCC unroll 8
      for (int r = 0; r < kRowTile; ++r) {
        const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(r) * lda + k0 + kk * 4;
        const __m256i m = broadcast4(magnitude + at);
        const __m256i s = broadcast4(signs + at);
        acc[r][0] = _mm256_add_epi32(
            acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_xor_si256(w0, s)), ones));
        acc[r][1] = _mm256_add_epi32(
            acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_xor_si256(w1, s)), ones));
      }
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 scale = _mm256_loadu_ps(scales + static_cast<std::ptrdiff_t>(kb) * 16 + h * 8);
#pragma GCC unroll 8
      for (int r = 0; r < kRowTile; ++r) {
        const __m256i dot = _mm256_add_epi32(
            acc[r][h],
            _mm256_set1_epi32(negative_sums[static_cast<std::ptrdiff_t>(r) * blocks + kb]));
        float* total = out + r * 16 + h * 8;
        _mm256_storeu_ps(total,
                         _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, _mm256_loadu_ps(total)));
      }
    }
  }
}

using AccumulateBlocksFn = void (*)(const std::int8_t*, const std::int8_t*, int, const std::int8_t*,
                                    int, const std::int32_t*, const float*, float*);

AccumulateBlocksFn accumulate_blocks_for(int mr) {
  switch (mr) {
    case 1:
      return accumulate_blocks<1>;
    case 2:
      return accumulate_blocks<2>;
    case 3:
      return accumulate_blocks<3>;
    case 4:
      return accumulate_blocks<4>;
    default:
      return accumulate_blocks<5>;
  }
}

void gemm_avx2_blocks(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                      const float* bias, float* y, int ldy) {
  const int blocks = w.column_blocks();
  const auto panel_bytes = static_cast<std::ptrdiff_t>(w.padded_cols / 4) * 64;
  for_each_block_tile(
      a, r0, r1, w, n0, n1, kMaxBlockRows, bias, y, ldy,
      [&](int panel, int r, int mr, float* sums) {
        const auto row = static_cast<std::ptrdiff_t>(r) * a.padded_cols;
        accumulate_blocks_for(mr)(
            a.data.data() + row, a.signs.data() + row, a.padded_cols,
            w.packed.data() + panel * panel_bytes, blocks,
            a.block_negative_sums.data() + static_cast<std::ptrdiff_t>(r) * blocks,
            w.block_scales.data() + static_cast<std::ptrdiff_t>(panel) * blocks * 16, sums);
      });
}

}  // namespace

void gemm_avx2(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
               const float* bias, float* y, int ldy) {
  if (w.blocked()) {
    gemm_avx2_blocks(a, r0, r1, w, n0, n1, bias, y, ldy);
    return;
  }
  const int k4 = w.padded_cols / 4;
  const auto panel_bytes = static_cast<std::ptrdiff_t>(k4) * 64;
  const int block_end = std::min(n1, w.padded_rows) / 16;
  alignas(32) std::int32_t tile[kMaxRows * 16];
  // Panel-major: each 16-channel panel (8 KiB at k = 512) stays in L1 while the rows' tiles pass
  // over it; the activations (at most a few hundred KiB per call) stay in L2.
  for (int block = n0 / 16; block < block_end; ++block) {
    const std::int8_t* panel = w.packed.data() + block * panel_bytes;
    const bool prefetch = streams_weights(w) && block + 1 < block_end;
    const int n = block * 16;
    const int valid = std::min(16, w.rows - n);
    for_each_row_tile(r0, r1, kMaxRows, [&](int r, int mr) {
      const auto row = static_cast<std::ptrdiff_t>(r) * a.padded_cols;
      const bool last_tile = r + mr == r1;
      const auto accumulate_fn =
          prefetch && last_tile ? accumulate_for<true>(mr) : accumulate_for<false>(mr);
      accumulate_fn(a.data.data() + row, a.signs.data() + row, a.padded_cols, panel,
                    panel + panel_bytes, k4, tile);
      store_tile_ymm(tile, mr, valid, a.scales.data() + r, {a.negative_sums.data() + r},
                     Rounding::kSeparate, w.scales.data() + n, bias == nullptr ? nullptr : bias + n,
                     y + static_cast<std::ptrdiff_t>(r) * ldy + n, ldy);
    });
  }
}

AMANUENSIS_AVX2 std::int32_t split_magnitude_and_sign_avx2(std::int8_t* q, std::int8_t* signs,
                                                           int n) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i sums = zero;  // four 64-bit sums of bytes
  for (int c = 0; c < n; c += 32) {
    auto* at = reinterpret_cast<__m256i*>(q + c);
    const __m256i x = _mm256_loadu_si256(at);
    const __m256i negative = _mm256_cmpgt_epi8(zero, x);
    const __m256i magnitude = _mm256_abs_epi8(x);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(signs + c), negative);
    _mm256_storeu_si256(at, magnitude);
    sums = _mm256_add_epi64(sums, _mm256_sad_epu8(_mm256_and_si256(magnitude, negative), zero));
  }
  alignas(32) std::int64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sums);
  return static_cast<std::int32_t>(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
}

}  // namespace amanuensis::kernels::int8_detail

#endif  // __x86_64__
