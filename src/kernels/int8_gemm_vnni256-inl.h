// The 256-bit VNNI kernel's body, included by int8_gemm_avx_vnni.cc once per encoding of
// vpdpbusd ymm (hence no include guard), with these defined:
//   AMANUENSIS_VNNI256_NAMESPACE  a namespace of its own for each copy
//   AMANUENSIS_VNNI256_DPBUSD     the intrinsic: _mm256_dpbusd_avx_epi32 (VEX, AVX-VNNI) or
//                                 _mm256_dpbusd_epi32 (EVEX, AVX-512 VNNI + VL)
//   AMANUENSIS_VNNI256_GEMM       the entry point's name (int8_gemm_internal.h)
//   AMANUENSIS_VNNI256_TARGET     the target attribute of the functions that use the intrinsics
//   AMANUENSIS_VNNI256_MAX_ROWS   rows per tile: 6 with vpdpbusd; 5 with its AVX2 emulation,
//                                 which needs two more registers (the int16 ones, a temporary)
//   AMANUENSIS_VNNI256_FORM       the activations' form: ActivationForm::kBiased (q + 128) or
//                                 kBiased7 (q + 64); the epilogue removes zero point * sum(w)
// and undefined again at its end.
//
// The avx2 path compiles it too (int8_gemm_avx2.cc), with vpmaddubsw + vpmaddwd + vpaddd for
// vpdpbusd and 7-bit activations stored + 64, whose pairs of products fit vpmaddubsw's int16.
//
// Tile: up to 6 rows x 16 channels (5 on avx2): 12 accumulators, the panel's two vectors and the
// row's broadcast activations, 15 of the 16 ymm registers. One vpdpbusd per 4 values of k, row and
// 8 channels (32 multiply-adds); Golden Cove and Zen 5 issue two per cycle with a latency of 5,
// which 12 independent accumulators cover. Activations are stored + 128 (unsigned; avx2: + 64), so
// each dot product is corrected by - 128 * sum(w) (- 64 * sum(w)) in the epilogue: exact, vpdpbusd
// does not saturate (nor do avx2's 7-bit pairs).

namespace amanuensis::kernels::int8_detail::AMANUENSIS_VNNI256_NAMESPACE {

constexpr int kMaxRows = AMANUENSIS_VNNI256_MAX_ROWS;
// log2 of the activations' zero point: the shift of the epilogue's correction.
constexpr int kZeroShift =
    std::countr_zero(static_cast<unsigned>(zero_point(AMANUENSIS_VNNI256_FORM)));
static_assert(1 << kZeroShift == zero_point(AMANUENSIS_VNNI256_FORM));

// acc[r][0..15] = sum over k of (a[r] + bias) * w for one panel. Its own function, apart from the
// epilogue, so that GCC keeps the accumulators in registers (with both in one function GCC 12
// spilled them on every k step of the AVX-512 kernel). With kPrefetch, also pulls the next panel
// (`next`) into L1 one line per k step, during the last row tile of this one.
template <int kRowTile, bool kPrefetch>
AMANUENSIS_VNNI256_TARGET __attribute__((noinline)) void accumulate(const std::int8_t* a, int lda,
                                                                    const std::int8_t* panel,
                                                                    const std::int8_t* next, int k4,
                                                                    std::int32_t* out) {
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
      std::int32_t a4;
      std::memcpy(&a4, a + static_cast<std::ptrdiff_t>(r) * lda + kk * 4, 4);
      const __m256i av = _mm256_set1_epi32(a4);
      acc[r][0] = AMANUENSIS_VNNI256_DPBUSD(acc[r][0], av, w0);
      acc[r][1] = AMANUENSIS_VNNI256_DPBUSD(acc[r][1], av, w1);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * 16), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * 16 + 8), acc[r][1]);
  }
}

using AccumulateFn = void (*)(const std::int8_t*, int, const std::int8_t*, const std::int8_t*, int,
                              std::int32_t*);

// The kernel for tiles of mr rows (at most kMaxRows; no taller one is compiled).
template <bool kPrefetch>
AccumulateFn accumulate_for(int mr) {
  static constexpr auto kByRows = []<int... kRows>(std::integer_sequence<int, kRows...>) {
    return std::array<AccumulateFn, kMaxRows>{accumulate<kRows + 1, kPrefetch>...};
  }
  (std::make_integer_sequence<int, kMaxRows>{});
  return kByRows[std::min(mr, kMaxRows) - 1];
}

// Block-mode weights (int8_gemm.h): as accumulate, but each 32-column block's products (less
// the zero point times the block's sum of w) are scaled by the block's scales into the float sums
// out[r * 16 + c] (zeroed here). Tiles are as tall as accumulate's: 12 int32 accumulators cover
// vpdpbusd's latency; the float sums live in `out` (L1), read and written once per block.
constexpr int kMaxBlockRows = kMaxRows;

template <int kRowTile>
AMANUENSIS_VNNI256_TARGET __attribute__((noinline)) void accumulate_blocks(
    const std::int8_t* a, int lda, const std::int8_t* panel, int blocks, const float* scales,
    const std::int32_t* sums, float* out) {
  std::fill_n(out, kRowTile * 16, 0.0F);
  for (int kb = 0; kb < blocks; ++kb) {
    __m256i acc[kRowTile][2];
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    // A constant trip count, fully unrolled: GCC keeps the accumulators in registers.
    const std::int8_t* ak = a + static_cast<std::ptrdiff_t>(kb) * kInt8BlockColumns;
    const std::int8_t* pk = panel + static_cast<std::ptrdiff_t>(kb) * kInt8BlockColumns * 16;
#pragma GCC unroll 8
    for (int kk = 0; kk < kInt8BlockColumns / 4; ++kk) {
      const auto* wk = reinterpret_cast<const __m256i*>(pk + kk * 64);
      const __m256i w0 = _mm256_loadu_si256(wk);
      const __m256i w1 = _mm256_loadu_si256(wk + 1);
#pragma GCC unroll 8
      for (int r = 0; r < kRowTile; ++r) {
        std::int32_t a4;
        std::memcpy(&a4, ak + static_cast<std::ptrdiff_t>(r) * lda + kk * 4, 4);
        const __m256i av = _mm256_set1_epi32(a4);
        acc[r][0] = AMANUENSIS_VNNI256_DPBUSD(acc[r][0], av, w0);
        acc[r][1] = AMANUENSIS_VNNI256_DPBUSD(acc[r][1], av, w1);
      }
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const auto at = static_cast<std::ptrdiff_t>(kb) * 16 + h * 8;
      const __m256 scale = _mm256_loadu_ps(scales + at);
      const __m256i correction = _mm256_slli_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums + at)), kZeroShift);
#pragma GCC unroll 8
      for (int r = 0; r < kRowTile; ++r) {
        float* total = out + r * 16 + h * 8;
        _mm256_storeu_ps(
            total, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][h], correction)),
                                   scale, _mm256_loadu_ps(total)));
      }
    }
  }
}

using AccumulateBlocksFn = void (*)(const std::int8_t*, int, const std::int8_t*, int, const float*,
                                    const std::int32_t*, float*);

inline AccumulateBlocksFn accumulate_blocks_for(int mr) {
  static constexpr auto kByRows = []<int... kRows>(std::integer_sequence<int, kRows...>) {
    return std::array<AccumulateBlocksFn, kMaxBlockRows>{accumulate_blocks<kRows + 1>...};
  }
  (std::make_integer_sequence<int, kMaxBlockRows>{});
  return kByRows[std::min(mr, kMaxBlockRows) - 1];
}

inline void gemm_blocks(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                        const float* bias, float* y, int ldy) {
  const int blocks = w.column_blocks();
  const auto panel_bytes = static_cast<std::ptrdiff_t>(w.padded_cols / 4) * 64;
  for_each_block_tile(a, r0, r1, w, n0, n1, kMaxBlockRows, bias, y, ldy,
                      [&](int panel, int r, int mr, float* sums) {
                        const auto at = static_cast<std::ptrdiff_t>(panel) * blocks * 16;
                        accumulate_blocks_for(mr)(
                            a.data.data() + static_cast<std::ptrdiff_t>(r) * a.padded_cols,
                            a.padded_cols, w.packed.data() + panel * panel_bytes, blocks,
                            w.block_scales.data() + at, w.block_sums.data() + at, sums);
                      });
}

}  // namespace amanuensis::kernels::int8_detail::AMANUENSIS_VNNI256_NAMESPACE

namespace amanuensis::kernels::int8_detail {

void AMANUENSIS_VNNI256_GEMM(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
                             int n1, const float* bias, float* y, int ldy) {
  namespace kernel = AMANUENSIS_VNNI256_NAMESPACE;
  if (w.blocked()) {
    kernel::gemm_blocks(a, r0, r1, w, n0, n1, bias, y, ldy);
    return;
  }
  const int k4 = w.padded_cols / 4;
  const auto panel_bytes = static_cast<std::ptrdiff_t>(k4) * 64;
  const int block_end = std::min(n1, w.padded_rows) / 16;
  alignas(32) std::int32_t tile[kernel::kMaxRows * 16];
  for (int block = n0 / 16; block < block_end; ++block) {
    const std::int8_t* panel = w.packed.data() + block * panel_bytes;
    const bool prefetch = streams_weights(w) && block + 1 < block_end;
    const int n = block * 16;
    const int valid = std::min(16, w.rows - n);
    for_each_row_tile(r0, r1, kernel::kMaxRows, [&](int r, int mr) {
      const bool last_tile = r + mr == r1;
      const auto accumulate_fn = prefetch && last_tile ? kernel::accumulate_for<true>(mr)
                                                       : kernel::accumulate_for<false>(mr);
      accumulate_fn(a.data.data() + static_cast<std::ptrdiff_t>(r) * a.padded_cols, a.padded_cols,
                    panel, panel + panel_bytes, k4, tile);
      store_tile_ymm(tile, mr, valid, a.scales.data() + r, {w.sums.data() + n, kernel::kZeroShift},
                     w.scales.data() + n, bias == nullptr ? nullptr : bias + n,
                     y + static_cast<std::ptrdiff_t>(r) * ldy + n, ldy);
    });
  }
}

}  // namespace amanuensis::kernels::int8_detail

#undef AMANUENSIS_VNNI256_NAMESPACE
#undef AMANUENSIS_VNNI256_DPBUSD
#undef AMANUENSIS_VNNI256_GEMM
#undef AMANUENSIS_VNNI256_TARGET
#undef AMANUENSIS_VNNI256_MAX_ROWS
#undef AMANUENSIS_VNNI256_FORM
