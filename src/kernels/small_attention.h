// Attention for a few query rows (decoding), reading keys and values where they lie: no packing,
// which for one or a few rows would cost more than the products. Written once with Highway and
// compiled for every instruction set, like vector_ops.
#pragma once

#include <span>

namespace amanuensis::kernels {

// One head for a few query rows: out[r] = softmax(scale * q[r] k^T) v over the keys row r sees
// (all with causal_offset < 0, else [0, r + causal_offset]), reading k and v rows in place.
// `scores` is scratch of rows * keys floats.
void small_attention(const float* q, int q_ld, int rows, const float* k, int k_ld, const float* v,
                     int v_ld, int keys, int head_dim, float scale, int causal_offset,
                     float* scores, float* out, int out_ld);

// One sequence of a group for small_attention_shared: its query rows, its own keys and values
// (those after the shared ones), and its causal offset among its own keys (row r sees the shared
// keys and own keys [0, r + causal_offset]; every own key when negative). Pointers are at the
// head's first column; strides are in floats.
struct SmallSequence {
  const float* q;
  int q_ld;
  int rows;
  const float* k;
  int k_ld;
  const float* v;
  int v_ld;
  int keys;
  int causal_offset;
  float* out;
  int out_ld;
};

// Keys and values every sequence of a group sees first (none when keys == 0).
struct SharedKeys {
  const float* k = nullptr;
  int k_ld = 0;
  const float* v = nullptr;
  int v_ld = 0;
  int keys = 0;
};

// One head for sequences that share their first keys and values (the beams of one window share
// their prompt): each sequence attends over the shared keys followed by its own, with the bits
// small_attention gives over the two laid end to end; the shared ones come from memory once for
// all. `scores` is scratch of shared.keys + max(keys) floats.
void small_attention_shared(const SharedKeys& shared, std::span<const SmallSequence> sequences,
                            int head_dim, float scale, float* scores);

}  // namespace amanuensis::kernels
