// Encoder attention with 16-bit integer products, for the reduced-precision compute types on
// x86 CPUs without AVX-512 BF16 (AVX2, AVX-VNNI, and AVX-512 VNNI without BF16): the flash
// attention of flash_attention.h with each pair of float32 multiply-adds replaced by one vpmaddwd
// (two int16 products summed into an int32), or one vpdpwssd with VNNI (on 256 bits with
// AVX-VNNI, on 512 with AVX-512), which doubles the multiply work per instruction over float32
// FMA.
//
// Precision: queries (times scale) and keys are rounded per row to 13 bits (|x| <= 4095 times a
// float scale), values per dimension to 12 bits (|x| <= 2047), and each key tile's probabilities
// (exp(score - running maximum), in [0, 1]) to multiples of 1/8191. Sums are exact in int32 (no
// overflow for any input: 32 pairs of 13-bit products, 64 pairs of 13 x 12-bit ones), softmax and
// the output stay float32. The relative error per element is at most 1/8190 of its row's (or
// column's) largest magnitude, finer than bfloat16's 1/512 for all but small elements.
#pragma once

#include <cstddef>
#include <cstdint>

namespace amanuensis::kernels {

// Whether flash_attention_i16 runs here: an x86 CPU on the avx2, avx_vnni or avx512 path (forced
// or detected).
bool i16_attention_supported();

// One head's keys and values packed for the kernel: keys [keys][head_dim] int16 with a scale per
// key; values in pairs of keys [ceil(keys / 2)][head_dim][2] (the last pair's second key zero
// when keys is odd) with a scale per dimension. head_dim must be even.
struct I16Head {
  std::int16_t* k;
  float* k_scale;  // [keys]
  std::int16_t* v;
  float* v_scale;  // [head_dim]
};
struct I16HeadView {
  const std::int16_t* k;
  const float* k_scale;
  const std::int16_t* v;
  const float* v_scale;
};
// Packing needs AVX2 and head_dim <= 128 (std::invalid_argument otherwise), as the kernel does.
std::size_t i16_key_elements(int keys, int head_dim);
std::size_t i16_value_elements(int keys, int head_dim);
void pack_i16_head(const float* k, int k_ld, const float* v, int v_ld, int keys, int head_dim,
                   const I16Head& out);

// out[r] = softmax(scale * q[r] k^T) v for r in [0, rows), every row seeing every key, with k and
// v packed by pack_i16_head. Only where i16_attention_supported().
void flash_attention_i16(const float* q, int q_ld, int rows, const I16HeadView& kv, int keys,
                         int head_dim, float scale, float* out, int out_ld);

// The kernel of one encoding: "avx2" (vpmaddwd + vpaddd), "avx_vnni" (VEX vpdpwssd),
// "avx512_vl" (its EVEX twin, AVX-512 VNNI on 256 bits) or "avx512" (vpdpwssd on 512 bits);
// false when this CPU lacks it. For tests, which check every copy on any CPU that runs it.
bool flash_attention_i16_with(const char* encoding, const float* q, int q_ld, int rows,
                              const I16HeadView& kv, int keys, int head_dim, float scale,
                              float* out, int out_ld);

}  // namespace amanuensis::kernels
