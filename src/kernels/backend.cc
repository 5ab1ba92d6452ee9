#include "kernels/backend.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace amanuensis::kernels {

void Backend::copy_rows(MatrixView from, MutableMatrixView to) {
  for (int r = 0; r < from.rows; ++r) {
    const float* row = from.data + static_cast<std::ptrdiff_t>(r) * from.ld;
    std::copy(row, row + from.cols, to.data + static_cast<std::ptrdiff_t>(r) * to.ld);
  }
}

void Backend::attention_half_cache(MatrixView q, const HalfKeyValues& kv, float scale,
                                   MutableMatrixView out, std::span<float* const> head_scores) {
  const int dim = kv.head_dim;
  const std::size_t head_size = kv.value_head_size();
  // Per thread, like the CPU kernels' scratch: concurrent requests may share the backend.
  thread_local std::vector<float> keys;
  thread_local std::vector<float> values;
  keys.resize(head_size * kv.n_heads);
  values.resize(head_size * kv.n_heads);
  for (int h = 0; h < kv.n_heads; ++h)
    unpack_half_head(kv, h, keys.data() + h * head_size, values.data() + h * head_size);
  if (!wants_scores(head_scores)) {
    attention_head_major(q, keys.data(), values.data(), kv.n_keys, kv.n_heads, scale, out);
    return;
  }
  thread_local std::vector<float> scores;
  scores.resize(static_cast<std::size_t>(q.rows) * kv.n_keys);
  const MutableMatrixView score_view{scores.data(), q.rows, kv.n_keys, kv.n_keys};
  for (int h = 0; h < kv.n_heads; ++h) {
    const float* head_keys = keys.data() + h * head_size;
    const float* head_values = values.data() + h * head_size;
    matmul({q.data + h * dim, q.rows, dim, q.ld}, {head_keys, kv.n_keys, dim, dim},
           /*transpose_b=*/true, scale, 0.0F, score_view);
    if (head_scores[h] != nullptr) std::copy(scores.begin(), scores.end(), head_scores[h]);
    softmax_rows(score_view, -1);
    matmul({scores.data(), q.rows, kv.n_keys, kv.n_keys}, {head_values, kv.n_keys, dim, dim},
           /*transpose_b=*/false, 1.0F, 0.0F, {out.data + h * dim, q.rows, dim, out.ld});
  }
}

namespace {

// Rows of `shared` then rows of `own`, contiguous ([shared.rows + own.rows, own.cols]).
void stack_rows(MatrixView shared, MatrixView own, std::vector<float>& out) {
  out.resize(static_cast<std::size_t>(shared.rows + own.rows) * own.cols);
  auto into = out.begin();
  for (const auto& part : {shared, own}) {
    for (int r = 0; r < part.rows; ++r) {
      const float* row = part.data + static_cast<std::size_t>(r) * part.ld;
      into = std::copy(row, row + own.cols, into);
    }
  }
}

}  // namespace

void Backend::attention_many(std::span<const AttentionProblem> problems, int n_heads, float scale) {
  thread_local std::vector<float> keys;
  thread_local std::vector<float> values;
  for (const auto& p : problems) {
    if (p.shared_k.rows == 0) {
      attention(p.q, p.k, p.v, n_heads, scale, p.causal_offset, p.out);
      continue;
    }
    stack_rows(p.shared_k, p.k, keys);
    stack_rows(p.shared_v, p.v, values);
    const int rows = p.shared_k.rows + p.k.rows;
    attention(p.q, {keys.data(), rows, p.k.cols, p.k.cols},
              {values.data(), rows, p.v.cols, p.v.cols}, n_heads, scale, p.causal_offset, p.out);
  }
}

}  // namespace amanuensis::kernels
