// The avx2 path: the 256-bit VNNI kernel's body (int8_gemm_vnni256-inl.h) with vpdpbusd done by
// vpmaddubsw, vpmaddwd and vpaddd, on 7-bit activations stored + 64 (int8_gemm.h explains why);
// and the 256-bit kernels' epilogues, which need no more than AVX2 and FMA.
//
// Per 4 values of k, row and 8 channels (32 multiply-adds): vpmaddubsw and vpmaddwd on the two
// vector-multiply pipes of Zen 3/4 and of Intel's cores, vpaddd on any: three instructions, where
// the exact 8-bit form needs a fourth (Intel issues vector instructions on three ports). Tile: 5
// rows x 16 channels, 10 accumulators, the panel's two vectors, the row's activations, the int16
// ones and one temporary: 15 of the 16 registers.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/int8_gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace amanuensis::kernels::int8_detail {

#define AMANUENSIS_AVX2 __attribute__((target("avx2,fma")))

AMANUENSIS_AVX2 void store_tile_ymm(const std::int32_t* acc, int mr, int valid,
                                    const float* a_scales, TileOffsets offsets,
                                    const float* w_scales, const float* bias, float* y, int ldy) {
  for (int h = 0; h < 2 && h * 8 < valid; ++h) {
    const int lanes = std::min(8, valid - h * 8);
    // Padded channels (beyond w.rows) have scale 0 and sum 0; reading them is harmless.
    const __m256 w_scale = _mm256_loadu_ps(w_scales + h * 8);
    const __m256i col =
        _mm256_sll_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets.cols + h * 8)),
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
      dot = _mm256_sub_epi32(dot, col);
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scales[r]), w_scale);
      const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, b);
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

namespace avx2 {

// acc + the sums of each 4 products of unsigned a and signed w bytes, as vpdpbusd: exact while
// each pair of products fits int16 (a <= 127: 127 * 128 * 2 < 32767).
AMANUENSIS_AVX2 inline __m256i dpbusd(__m256i acc, __m256i a, __m256i w) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), _mm256_set1_epi16(1)));
}

}  // namespace avx2

}  // namespace amanuensis::kernels::int8_detail

#define AMANUENSIS_VNNI256_TARGET AMANUENSIS_AVX2
#define AMANUENSIS_VNNI256_NAMESPACE avx2
#define AMANUENSIS_VNNI256_DPBUSD dpbusd
#define AMANUENSIS_VNNI256_GEMM gemm_avx2
#define AMANUENSIS_VNNI256_MAX_ROWS 5
#define AMANUENSIS_VNNI256_FORM ActivationForm::kBiased7
#include "kernels/int8_gemm_vnni256-inl.h"

#endif  // __x86_64__
