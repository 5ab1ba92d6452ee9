// Cross-attention keys and values in float16, laid out for decoding, and the attention kernel
// that reads them (written once with Highway, dispatched at run time like vector_ops.h).
//
// Decoding is bound by memory bandwidth: every step, each sequence's few query rows read every
// key and value of its window (37 MB per step for base in float32). Half the bytes is half the
// time, and keys stored transposed turn each score into vertical multiply-adds across keys: no
// horizontal sum per (key, row) as with keys stored row by row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace amanuensis::kernels {

// Keys per transposed tile; a head's key count is padded up to a multiple of it with zeros.
// 32 float16 keys are one 64-byte cache line per dimension, two AVX-512 vectors once widened.
inline constexpr int kHalfKeyTile = 32;

// One layer's keys and values as IEEE binary16 bits:
// - keys, per head h, in tiles of kHalfKeyTile keys, each tile transposed: element (key j,
//   dimension i) of head h is at keys[h * key_head_size() + (j / 32) * head_dim * 32 + i * 32 +
//   j % 32]. A tile is 4 KiB of contiguous memory for head_dim 64, which the hardware
//   prefetchers stream like one array (a whole-head transpose would be 64 strided streams).
// - values, per head h, [n_keys][head_dim] at values + h * value_head_size(): the weighted sum of
//   value rows is already vertical.
struct HalfKeyValues {
  const std::uint16_t* keys = nullptr;
  const std::uint16_t* values = nullptr;
  int n_keys = 0;
  int n_heads = 0;
  int head_dim = 0;

  [[nodiscard]] int tiles() const { return (n_keys + kHalfKeyTile - 1) / kHalfKeyTile; }
  [[nodiscard]] std::size_t key_head_size() const {
    return static_cast<std::size_t>(tiles()) * kHalfKeyTile * head_dim;
  }
  [[nodiscard]] std::size_t value_head_size() const {
    return static_cast<std::size_t>(n_keys) * head_dim;
  }
  [[nodiscard]] std::size_t key_elements() const { return key_head_size() * n_heads; }
  [[nodiscard]] std::size_t value_elements() const { return value_head_size() * n_heads; }
};

// float -> binary16, rounding to nearest even (as F16C does); beyond the range -> +-inf.
std::uint16_t float_to_half(float x);
// binary16 -> float, exact.
float half_to_float(std::uint16_t h);

// Fills kv.keys and kv.values (storage of kv.key_elements() and kv.value_elements(), cast away
// from const by the caller who owns it) from float32 keys and values given row by row: key j of
// head h is k[j * ld + h * head_dim + i], likewise v. Values beyond +-65504 are clamped to the
// largest half. Rounds to nearest even on every instruction set (F16C where the CPU has it).
void pack_half_key_values(const float* k, const float* v, int ld, std::uint16_t* keys_out,
                          std::uint16_t* values_out, int n_keys, int n_heads, int head_dim);

// Head `head` of kv back in float32, row by row: keys and values [n_keys][head_dim] (either
// pointer may be null).
void unpack_half_head(const HalfKeyValues& kv, int head, float* keys, float* values);
// All heads' keys (or values) in float32, [n_heads * n_keys][head_dim]: the layout
// attention_head_major reads. For backends that cannot read float16 caches in place.
std::vector<float> unpack_half(const HalfKeyValues& kv, bool keys);

// One head for `rows` query rows (any number; taken a few at a time):
// out[r] = softmax(scale * q[r] k^T) v over all n_keys keys, products accumulated in float32.
// With scores != nullptr it also receives the scaled scores before the softmax,
// [rows][kv.n_keys] (word timestamps read them). Scratch is per thread and only grows.
void half_cache_attention(const float* q, int q_ld, int rows, const HalfKeyValues& kv, int head,
                          float scale, float* scores, float* out, int out_ld);

}  // namespace amanuensis::kernels
