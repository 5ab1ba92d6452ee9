// Encoder attention with bfloat16 products (AVX-512 BF16, vdpbf16ps), for the reduced-precision
// compute types: the flash attention of flash_attention.h with each product of two float32
// multiply-adds replaced by one instruction that multiplies two pairs of bfloat16 and adds both
// to a float32 sum, which halves the multiply work of the scores and of the weighted values.
// Highway 1.0 has no target with these instructions, so this file uses intrinsics compiled for
// them (target attributes) and is only called where the CPU has them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace amanuensis::kernels {

// Whether flash_attention_bf16 runs here: an x86 CPU with AVX-512 BF16, and the AVX-512
// kernels allowed (AMANUENSIS_CPU_ISA=avx512 or unset; avx2 or generic turn it off).
bool bf16_attention_supported();

// One head's keys and values in bfloat16 (rounded to nearest even), packed for the kernel:
// keys [keys][head_dim] (pairs of dimensions adjacent), values in pairs of keys
// [ceil(keys / 2)][head_dim][2] (the last pair's second key zero when keys is odd). head_dim
// must be even.
std::size_t bf16_key_elements(int keys, int head_dim);
std::size_t bf16_value_elements(int keys, int head_dim);
void pack_bf16_head(const float* k, int k_ld, const float* v, int v_ld, int keys, int head_dim,
                    std::uint16_t* k_out, std::uint16_t* v_out);

// out[r] = softmax(scale * q[r] k^T) v for r in [0, rows), every row seeing every key, with k
// and v packed by pack_bf16_head. The queries (times scale) and the probabilities are rounded to
// bfloat16 (8 significant bits) before their products; sums, softmax and the output stay
// float32. Only where bf16_attention_supported().
void flash_attention_bf16(const float* q, int q_ld, int rows, const std::uint16_t* k,
                          const std::uint16_t* v, int keys, int head_dim, float scale, float* out,
                          int out_ld);

}  // namespace amanuensis::kernels
