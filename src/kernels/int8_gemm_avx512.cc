// The avx512 path: vpdpbusd on 512 bits, 8 rows x 32 channels (two packed panels) per tile, 16
// zmm accumulators. Activations are stored + 128 (unsigned), corrected by - 128 * sum(w) in the
// epilogue: exact, vpdpbusd does not saturate.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/int8_gemm_internal.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* helpers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace amanuensis::kernels::int8_detail {

namespace {

#define AMANUENSIS_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

// The products of one tile, kept apart from the scaling below: with both in one function GCC
// 12 copies and spills the accumulators on every step of the k loop, which ran this kernel at a
// third of the speed it reaches alone. With kPrefetch, also pulls the next kColumnBlocks panels
// into L1, one line of each per k step (during a column block's last row tile), for matrices that
// stream from memory (streams_weights: the logits), where it hides the latency of the next panels.
template <int kRowTile, int kColumnBlocks, bool kPrefetch>
AMANUENSIS_VNNI __attribute__((noinline)) void accumulate_vnni(const std::int8_t* a, int lda,
                                                               const std::int8_t* wp,
                                                               std::size_t block_stride, int k4,
                                                               std::int32_t* out) {
  __m512i acc[kRowTile][kColumnBlocks];
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) {
#pragma GCC unroll 4
    for (int b = 0; b < kColumnBlocks; ++b) acc[r][b] = _mm512_setzero_si512();
  }
  for (int kk = 0; kk < k4; ++kk, a += 4, wp += 64) {
    __m512i wv[kColumnBlocks];
#pragma GCC unroll 4
    for (int b = 0; b < kColumnBlocks; ++b) wv[b] = _mm512_loadu_si512(wp + b * block_stride);
    if constexpr (kPrefetch) {
#pragma GCC unroll 4
      for (int b = 0; b < kColumnBlocks; ++b)
        _mm_prefetch(wp + (kColumnBlocks + b) * block_stride, _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r) {
      std::int32_t a4;
      std::memcpy(&a4, a + static_cast<std::ptrdiff_t>(r) * lda, 4);
      const __m512i av = _mm512_set1_epi32(a4);
#pragma GCC unroll 4
      for (int b = 0; b < kColumnBlocks; ++b) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], av, wv[b]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) {
#pragma GCC unroll 4
    for (int b = 0; b < kColumnBlocks; ++b)
      _mm512_storeu_si512(out + (r * kColumnBlocks + b) * 16, acc[r][b]);
  }
}

// One tile: kRowTile rows x kColumnBlocks blocks of 16 output channels (vpdpbusd: unsigned a x
// signed w).
template <int kRowTile, int kColumnBlocks>
AMANUENSIS_VNNI void tile_vnni(const std::int8_t* a, int lda, const float* a_scales,
                               const Int8Matrix& w, int block, bool prefetch, const float* bias,
                               float* y, int ldy) {
  const int k4 = w.padded_cols / 4;
  const std::size_t block_stride = static_cast<std::size_t>(k4) * 64;
  alignas(64) std::int32_t products[kRowTile * kColumnBlocks * 16];
  const std::int8_t* panels = w.packed.data() + static_cast<std::size_t>(block) * block_stride;
  if (prefetch) {
    accumulate_vnni<kRowTile, kColumnBlocks, true>(a, lda, panels, block_stride, k4, products);
  } else {
    accumulate_vnni<kRowTile, kColumnBlocks, false>(a, lda, panels, block_stride, k4, products);
  }
  for (int b = 0; b < kColumnBlocks; ++b) {
    const int n = (block + b) * 16;
    const int valid = std::min(16, w.rows - n);
    if (valid <= 0) break;
    const auto mask = static_cast<__mmask16>((1U << valid) - 1U);
    const __m512 w_scales = _mm512_loadu_ps(w.scales.data() + n);
    // a was stored as q + 128: remove 128 * sum(w) from every product. Then the rounding every
    // path performs (int8_detail::scale_dot).
    const __m512i correction = _mm512_slli_epi32(_mm512_loadu_si512(w.sums.data() + n), 7);
    const __m512 bias_v =
        bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + n) : _mm512_setzero_ps();
    for (int r = 0; r < kRowTile; ++r) {
      const __m512i acc = _mm512_load_si512(products + (r * kColumnBlocks + b) * 16);
      const __m512 scaled =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, correction)),
                          _mm512_mul_ps(w_scales, _mm512_set1_ps(a_scales[r])), bias_v);
      _mm512_mask_storeu_ps(y + static_cast<std::size_t>(r) * ldy + n, mask, scaled);
    }
  }
}

template <int kColumnBlocks>
void tile_vnni_rows(int mr, const std::int8_t* a, int lda, const float* a_scales,
                    const Int8Matrix& w, int block, bool prefetch, const float* bias, float* y,
                    int ldy) {
  switch (mr) {
    case 1:
      return tile_vnni<1, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 2:
      return tile_vnni<2, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 3:
      return tile_vnni<3, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 4:
      return tile_vnni<4, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 5:
      return tile_vnni<5, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 6:
      return tile_vnni<6, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    case 7:
      return tile_vnni<7, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
    default:
      return tile_vnni<8, kColumnBlocks>(a, lda, a_scales, w, block, prefetch, bias, y, ldy);
  }
}

// Block-mode weights (int8_gemm.h): as accumulate_vnni, but the int32 products of each 32-column
// block (less 128 times the block's sum of w) are scaled by the block's scales into float sums
// kept in registers, out[(r * kColumnBlocks + b) * 16 + c]. `scales` and `sums` point at the
// first panel's block 0; the next panel's are scale_stride further on. kPrefetch as in
// accumulate_vnni.
template <int kRowTile, int kColumnBlocks, bool kPrefetch>
AMANUENSIS_VNNI __attribute__((noinline)) void accumulate_blocks_vnni(
    const std::int8_t* a, int lda, const std::int8_t* wp, std::size_t block_stride, int blocks,
    const float* scales, const std::int32_t* sums, std::size_t scale_stride, float* out) {
  __m512 total[kRowTile][kColumnBlocks];
#pragma GCC unroll 4
  for (int r = 0; r < kRowTile; ++r) {
#pragma GCC unroll 2
    for (int b = 0; b < kColumnBlocks; ++b) total[r][b] = _mm512_setzero_ps();
  }
  for (int kb = 0; kb < blocks; ++kb) {
    __m512i acc[kRowTile][kColumnBlocks];
#pragma GCC unroll 4
    for (int r = 0; r < kRowTile; ++r) {
#pragma GCC unroll 2
      for (int b = 0; b < kColumnBlocks; ++b) acc[r][b] = _mm512_setzero_si512();
    }
#pragma GCC unroll 8
    for (int kk = 0; kk < kInt8BlockColumns / 4; ++kk, a += 4, wp += 64) {
      __m512i wv[kColumnBlocks];
#pragma GCC unroll 2
      for (int b = 0; b < kColumnBlocks; ++b) wv[b] = _mm512_loadu_si512(wp + b * block_stride);
      if constexpr (kPrefetch) {
#pragma GCC unroll 2
        for (int b = 0; b < kColumnBlocks; ++b)
          _mm_prefetch(wp + (kColumnBlocks + b) * block_stride, _MM_HINT_T0);
      }
#pragma GCC unroll 4
      for (int r = 0; r < kRowTile; ++r) {
        std::int32_t a4;
        std::memcpy(&a4, a + static_cast<std::ptrdiff_t>(r) * lda, 4);
        const __m512i av = _mm512_set1_epi32(a4);
#pragma GCC unroll 2
        for (int b = 0; b < kColumnBlocks; ++b)
          acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], av, wv[b]);
      }
    }
#pragma GCC unroll 2
    for (int b = 0; b < kColumnBlocks; ++b) {
      const std::size_t at = b * scale_stride + static_cast<std::size_t>(kb) * 16;
      const __m512 scale = _mm512_loadu_ps(scales + at);
      const __m512i correction = _mm512_slli_epi32(_mm512_loadu_si512(sums + at), 7);
#pragma GCC unroll 4
      for (int r = 0; r < kRowTile; ++r) {
        total[r][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][b], correction)),
                                      scale, total[r][b]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRowTile; ++r) {
#pragma GCC unroll 2
    for (int b = 0; b < kColumnBlocks; ++b)
      _mm512_storeu_ps(out + (r * kColumnBlocks + b) * 16, total[r][b]);
  }
}

using AccumulateBlocksFn = void (*)(const std::int8_t*, int, const std::int8_t*, std::size_t, int,
                                    const float*, const std::int32_t*, std::size_t, float*);

// Block mode holds twice the accumulators (int32 and float), so its tiles are at most 5 rows
// (20 accumulators; 5 is beam search's row count, whose logits then stream the weights once).
constexpr int kMaxBlockRows = 5;

template <int kColumnBlocks, bool kPrefetch>
AccumulateBlocksFn accumulate_blocks_for(int mr) {
  switch (mr) {
    case 1:
      return accumulate_blocks_vnni<1, kColumnBlocks, kPrefetch>;
    case 2:
      return accumulate_blocks_vnni<2, kColumnBlocks, kPrefetch>;
    case 3:
      return accumulate_blocks_vnni<3, kColumnBlocks, kPrefetch>;
    case 4:
      return accumulate_blocks_vnni<4, kColumnBlocks, kPrefetch>;
    default:
      return accumulate_blocks_vnni<5, kColumnBlocks, kPrefetch>;
  }
}

// y[r, n + c] = finish_blocks(sums, a_scales[r], bias) for the tile's rows and valid channels.
AMANUENSIS_VNNI void store_blocks(const float* sums, int mr, int column_blocks, int b, int valid,
                                  const float* a_scales, const float* bias, float* y, int ldy) {
  const auto mask = static_cast<__mmask16>((1U << valid) - 1U);
  const __m512 bias_v = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int r = 0; r < mr; ++r) {
    const __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(sums + (r * column_blocks + b) * 16),
                                     _mm512_set1_ps(a_scales[r]), bias_v);
    _mm512_mask_storeu_ps(y + static_cast<std::ptrdiff_t>(r) * ldy, mask, v);
  }
}

// Block-mode weights: tiles of up to 5 rows x 32 channels (two panels), each block's products
// scaled in registers (accumulate_blocks_vnni).
void gemm_avx512_blocks(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                        const float* bias, float* y, int ldy) {
  const int blocks = w.column_blocks();
  const auto panel_bytes = static_cast<std::size_t>(w.padded_cols / 4) * 64;
  const auto scale_stride = static_cast<std::size_t>(blocks) * 16;
  const int block_end = std::min(n1, w.padded_rows) / 16;
  alignas(64) float sums[kMaxBlockRows * 2 * 16];
  for (int block = n0 / 16; block < block_end; block += 2) {
    const int pair = block + 1 < block_end ? 2 : 1;
    const std::int8_t* panels = w.packed.data() + block * panel_bytes;
    const auto at = static_cast<std::ptrdiff_t>(block) * blocks * 16;
    // The next pair of panels, if this task has it, while the last rows pass over this pair.
    const bool streams = streams_weights(w) && block + 4 <= block_end;
    for_each_row_tile(r0, r1, kMaxBlockRows, [&](int r, int mr) {
      const bool prefetch = streams && r + mr == r1;
      const auto accumulate_fn = pair == 1  ? accumulate_blocks_for<1, false>(mr)
                                 : prefetch ? accumulate_blocks_for<2, true>(mr)
                                            : accumulate_blocks_for<2, false>(mr);
      accumulate_fn(a.data.data() + static_cast<std::ptrdiff_t>(r) * a.padded_cols, a.padded_cols,
                    panels, panel_bytes, blocks, w.block_scales.data() + at,
                    w.block_sums.data() + at, scale_stride, sums);
      for (int b = 0; b < pair; ++b) {
        const int n = (block + b) * 16;
        const int valid = std::min(16, w.rows - n);
        if (valid <= 0) break;
        store_blocks(sums, mr, pair, b, valid, a.scales.data() + r,
                     bias == nullptr ? nullptr : bias + n,
                     y + static_cast<std::ptrdiff_t>(r) * ldy + n, ldy);
      }
    });
  }
}

}  // namespace

void gemm_avx512(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                 const float* bias, float* y, int ldy) {
  if (w.blocked()) {
    gemm_avx512_blocks(a, r0, r1, w, n0, n1, bias, y, ldy);
    return;
  }
  const int block_end = std::min(n1, w.padded_rows) / 16;
  for (int block = n0 / 16; block < block_end; block += 2) {
    for (int r = r0; r < r1; r += 8) {
      const int mr = std::min(8, r1 - r);
      const std::int8_t* ap = a.data.data() + static_cast<std::size_t>(r) * a.padded_cols;
      float* yp = y + static_cast<std::size_t>(r) * ldy;
      // The next pair of panels, if this task has it, while the last rows pass over this pair.
      const bool prefetch = streams_weights(w) && r + mr == r1 && block + 4 <= block_end;
      if (block + 1 < block_end) {
        tile_vnni_rows<2>(mr, ap, a.padded_cols, a.scales.data() + r, w, block, prefetch, bias, yp,
                          ldy);
      } else {
        tile_vnni_rows<1>(mr, ap, a.padded_cols, a.scales.data() + r, w, block, false, bias, yp,
                          ldy);
      }
    }
  }
}

}  // namespace amanuensis::kernels::int8_detail

#endif  // __x86_64__
