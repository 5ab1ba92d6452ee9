#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/blas.h"
#include "kernels/cpu_isa.h"
#include "kernels/flash_attention.h"
#include "kernels/flash_attention_i16.h"
#include "kernels/float_gemm_rows.h"
#include "kernels/half_cache.h"
#include "kernels/int8_gemm.h"
#include "kernels/small_attention.h"
#include "kernels/thread_pool.h"
#include "kernels/vector_ops.h"

namespace amanuensis::kernels {

namespace {

// Below this many multiply-adds a product runs on the calling thread alone.
constexpr std::int64_t kParallelWork = 1 << 16;
// Rows per block of a float product with many rows (encoder): a few blocks per thread for
// balance, each large enough that OpenBLAS's packing of the weights stays a small cost.
constexpr int kProductRows = 256;
// Columns (output channels) per block of a float product with few rows (decoding).
constexpr int kProductColumns = 512;
// Element-wise work per task.
constexpr int kElementGrain = 1 << 14;
// Query rows per attention task (flash_attention): two panels of 48 rows with AVX-512, four of 24
// with AVX2; 16 tasks per head for the encoder's 1500 rows, plenty to balance the threads.
constexpr int kAttentionRows = 96;
// At most this many query rows take the small-row attention kernel (no packing).
constexpr int kSmallAttentionRows = 8;

int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Per-thread scratch that grows to the largest size asked and is then reused.
float* scratch_floats(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : blas_(blas()), isa_(cpu_isa()), pool_(std::max(1, threads)) {
    vector_ops_limit_to(isa_);
  }

  [[nodiscard]] std::string_view name() const override { return "cpu"; }

  [[nodiscard]] std::string describe() const override {
    std::string text = "cpu x" + std::to_string(pool_.size());
    for (const auto& [family, path] : cpu_kernel_paths()) {
      text += ", ";
      text += family;
      text += " ";
      text += path;
    }
    return text;
  }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override {
    const auto gemm = [&](int r0, int r1, int n0, int n1) {
      const float* b_part =
          transpose_b ? b.data + static_cast<std::size_t>(n0) * b.ld : b.data + n0;
      blas_.sgemm(kRowMajor, kNoTrans, transpose_b ? kTrans : kNoTrans, r1 - r0, n1 - n0, a.cols,
                  alpha, a.data + static_cast<std::size_t>(r0) * a.ld, a.ld, b_part, b.ld, beta,
                  c.data + static_cast<std::size_t>(r0) * c.ld + n0, c.ld);
    };
    split_product(c.rows, c.cols, a.cols, gemm);
  }

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override {
    const auto part = [&](int r0, int r1, int n0, int n1) {
      const float* w = weight.data + static_cast<std::size_t>(n0) * weight.ld;
      float* out = y.data + static_cast<std::size_t>(r0) * y.ld + n0;
      const float* in = x.data + static_cast<std::size_t>(r0) * x.ld;
      if (r1 - r0 <= kFewRows) {
        // Decoding: the weights straight from the matrix, without OpenBLAS's copy of them.
        linear_few_rows(in, r1 - r0, x.ld, w, n1 - n0, weight.ld, x.cols,
                        bias.empty() ? nullptr : bias.data() + n0, out, y.ld);
        return;
      }
      float beta = 0.0F;
      if (!bias.empty()) {
        for (int r = r0; r < r1; ++r) {
          std::copy(bias.begin() + n0, bias.begin() + n1,
                    y.data + static_cast<std::size_t>(r) * y.ld + n0);
        }
        beta = 1.0F;
      }
      blas_.sgemm(kRowMajor, kNoTrans, kTrans, r1 - r0, n1 - n0, x.cols, 1.0F, in, x.ld, w,
                  weight.ld, beta, out, y.ld);
    };
    split_product(y.rows, y.cols, x.cols, part);
  }

  void linear_int8(MatrixView x, const Int8Matrix& weight, std::span<const float> bias,
                   MutableMatrixView y) override {
    thread_local QuantizedRows quantized;
    quantize_rows_prepare(isa_, x.rows, weight, quantized);
    auto& rows_out = quantized;  // the caller's; pool threads fill their own rows of it
    // (Decoding's few rows stay on this thread; the encoder's thousands are shared.)
    const int grain = std::max(1, 4 * kElementGrain / std::max(1, x.cols));
    pool_.for_range(x.rows, grain, [&](int r0, int r1) {
      quantize_row_range(x.data, r0, r1, x.cols, x.ld, rows_out);
    });
    const float* bias_data = bias.empty() ? nullptr : bias.data();
    constexpr int kRowChunk = 96;
    const int row_chunks = ceil_div(x.rows, kRowChunk);
    const int blocks = weight.padded_rows / 16;
    const int column_tasks = std::max(1, 4 * pool_.size() / row_chunks);
    int blocks_per_task = std::max(2, ceil_div(blocks, column_tasks));
    blocks_per_task += blocks_per_task % 2;
    const int column_chunks = ceil_div(blocks, blocks_per_task);
    const auto& a = quantized;
    const auto task = [&](int t) {
      const int rc = t / column_chunks;
      const int cc = t % column_chunks;
      const int r0 = rc * kRowChunk;
      const int r1 = std::min(x.rows, r0 + kRowChunk);
      const int n0 = cc * blocks_per_task * 16;
      const int n1 = std::min(blocks, (cc + 1) * blocks_per_task) * 16;
      int8_gemm(isa_, a, r0, r1, weight, n0, n1, bias_data, y.data, y.ld);
    };
    const std::int64_t work = static_cast<std::int64_t>(x.rows) * weight.rows * weight.cols;
    if (work < kParallelWork) {
      for (int t = 0; t < row_chunks * column_chunks; ++t) task(t);
    } else {
      pool_.run(row_chunks * column_chunks, task);
    }
  }

  void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                 int causal_offset, MutableMatrixView out) override {
    const int head_dim = q.cols / n_heads;
    attend_heads(
        q, k.rows, n_heads, scale, causal_offset, out,
        [&](int h) {
          return HeadView{k.data + h * head_dim, k.ld};
        },
        [&](int h) {
          return HeadView{v.data + h * head_dim, v.ld};
        });
  }

  // Decoding many sequences of a few rows each: every (group, head) pair is independent, so
  // they share one parallel loop instead of a loop (or none, each being small) per sequence. A
  // group is a run of problems with the same shared keys (one window's beams), which are read
  // once for the group.
  void attention_many(std::span<const AttentionProblem> problems, int n_heads,
                      float scale) override {
    std::int64_t work = 0;
    for (const auto& p : problems) {
      if (p.q.rows > kSmallAttentionRows) {
        Backend::attention_many(problems, n_heads, scale);
        return;
      }
      work += static_cast<std::int64_t>(p.q.rows) * (p.shared_k.rows + p.k.rows) * p.q.cols;
    }
    thread_local std::vector<std::pair<std::size_t, std::size_t>> groups;
    groups.clear();
    for (std::size_t i = 0; i < problems.size(); ++i) {
      const auto& p = problems[i];
      if (i > 0 && p.shared_k.rows > 0 && p.shared_k.data == problems[i - 1].shared_k.data &&
          p.shared_k.rows == problems[i - 1].shared_k.rows) {
        groups.back().second = i + 1;
      } else {
        groups.emplace_back(i, i + 1);
      }
    }
    const auto& runs = groups;  // the caller's; pool threads only read it
    const auto group_heads = [&](std::size_t g, int h0, int h1) {
      for (int h = h0; h < h1; ++h) attend_group(problems, runs[g], n_heads, h, scale);
    };
    const auto count = static_cast<int>(runs.size());
    if (work < kParallelWork || count == 0) {
      for (int g = 0; g < count; ++g) group_heads(static_cast<std::size_t>(g), 0, n_heads);
    } else if (count >= 4 * pool_.size()) {
      pool_.run(count, [&](int g) { group_heads(static_cast<std::size_t>(g), 0, n_heads); });
    } else {
      pool_.run(count * n_heads, [&](int t) {
        group_heads(static_cast<std::size_t>(t / n_heads), t % n_heads, t % n_heads + 1);
      });
    }
  }

  // Reduced-precision products where the rows are many (the encoder): int16 on the x86 paths
  // (avx2, avx_vnni, avx512), float32 elsewhere. Each head's keys and values are packed once (in
  // parallel) for all its row blocks.
  void attention_reduced(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                         MutableMatrixView out) override {
    const int head_dim = q.cols / n_heads;
    const bool many = q.rows > kSmallAttentionRows && head_dim % 2 == 0;
    if (many && head_dim <= 128 && i16_attention_supported()) {
      attention_i16(q, k, v, n_heads, scale, out);
    } else {
      attention(q, k, v, n_heads, scale, -1, out);
    }
  }

  // Runs attend(h, r0, rows) for every head and block of kAttentionRows query rows.
  template <typename Attend>
  void attention_row_blocks(int rows, int n_heads, const Attend& attend) {
    const int row_blocks = ceil_div(rows, kAttentionRows);
    pool_.run(n_heads * row_blocks, [&](int t) {
      const int r0 = (t % row_blocks) * kAttentionRows;
      attend(t / row_blocks, r0, std::min(kAttentionRows, rows - r0));
    });
  }

  void attention_i16(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                     MutableMatrixView out) {
    const int head_dim = q.cols / n_heads;
    thread_local std::vector<std::int16_t> keys;
    thread_local std::vector<std::int16_t> values;
    thread_local std::vector<float> scales;
    const std::size_t key_size = i16_key_elements(k.rows, head_dim);
    const std::size_t value_size = i16_value_elements(k.rows, head_dim);
    const std::size_t scale_size = static_cast<std::size_t>(k.rows) + head_dim;
    keys.resize(key_size * n_heads);
    values.resize(value_size * n_heads);
    scales.resize(scale_size * n_heads);
    // Pointers, not the thread_local vectors: pool threads would name their own.
    std::int16_t* k16 = keys.data();
    std::int16_t* v16 = values.data();
    float* all_scales = scales.data();
    const auto head = [&](int h) {
      float* s = all_scales + h * scale_size;
      return I16Head{k16 + h * key_size, s, v16 + h * value_size, s + k.rows};
    };
    pool_.run(n_heads, [&](int h) {
      pack_i16_head(k.data + h * head_dim, k.ld, v.data + h * head_dim, v.ld, k.rows, head_dim,
                    head(h));
    });
    attention_row_blocks(q.rows, n_heads, [&](int h, int r0, int rows) {
      const int column = h * head_dim;
      const I16Head packed = head(h);
      flash_attention_i16(q.data + static_cast<std::size_t>(r0) * q.ld + column, q.ld, rows,
                          {packed.k, packed.k_scale, packed.v, packed.v_scale}, k.rows, head_dim,
                          scale, out.data + static_cast<std::size_t>(r0) * out.ld + column, out.ld);
    });
  }

  void attention_head_major(MatrixView q, const float* k, const float* v, int keys, int n_heads,
                            float scale, MutableMatrixView out) override {
    const int head_dim = q.cols / n_heads;
    const auto head_size = static_cast<std::size_t>(keys) * head_dim;
    attend_heads(
        q, keys, n_heads, scale, -1, out,
        [&](int h) {
          return HeadView{k + h * head_size, head_dim};
        },
        [&](int h) {
          return HeadView{v + h * head_size, head_dim};
        });
  }

  // One task per head, as for small_attention: each reads its head's keys and values in place.
  void attention_half_cache(MatrixView q, const HalfKeyValues& kv, float scale,
                            MutableMatrixView out, std::span<float* const> head_scores) override {
    const int dim = kv.head_dim;
    const auto head = [&](int h) {
      float* scores = head_scores.empty() ? nullptr : head_scores[h];
      half_cache_attention(q.data + h * dim, q.ld, q.rows, kv, h, scale, scores, out.data + h * dim,
                           out.ld);
    };
    const std::int64_t work = static_cast<std::int64_t>(q.rows) * kv.n_keys * q.cols;
    if (work < kParallelWork) {
      for (int h = 0; h < kv.n_heads; ++h) head(h);
    } else {
      pool_.run(kv.n_heads, head);
    }
  }

  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override {
    pool_.for_range(x.rows, std::max(1, kElementGrain / std::max(1, x.cols)), [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) {
        layer_norm_row(x.data + static_cast<std::size_t>(r) * x.ld, gamma.data(), beta.data(),
                       x.cols, epsilon);
      }
    });
  }

  void gelu(std::span<float> x) override {
    pool_.for_range(static_cast<int>(x.size()), kElementGrain, [&](int i0, int i1) {
      kernels::gelu(x.data() + i0, static_cast<std::size_t>(i1 - i0));
    });
  }

  void softmax_rows(MutableMatrixView x, int causal_offset) override {
    pool_.for_range(x.rows, std::max(1, kElementGrain / std::max(1, x.cols)), [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) {
        const int visible = causal_offset < 0 ? x.cols : std::min(x.cols, r + causal_offset + 1);
        softmax_row(x.data + static_cast<std::size_t>(r) * x.ld, visible, x.cols);
      }
    });
  }

  void add(std::span<const float> x, std::span<float> y) override {
    pool_.for_range(static_cast<int>(y.size()), 4 * kElementGrain, [&](int i0, int i1) {
      kernels::add(x.data() + i0, y.data() + i0, static_cast<std::size_t>(i1 - i0));
    });
  }

 private:
  struct HeadView {
    const float* data;
    int ld;
  };

  // Head h of problems [run.first, run.second), which share their shared keys.
  static void attend_group(std::span<const AttentionProblem> problems,
                           std::pair<std::size_t, std::size_t> run, int n_heads, int h,
                           float scale) {
    thread_local std::vector<SmallSequence> sequences;
    sequences.clear();
    const auto& first = problems[run.first];
    const int head_dim = first.q.cols / n_heads;
    const int column = h * head_dim;
    const int shared_rows = first.shared_k.rows;
    std::size_t scratch = 0;
    for (std::size_t i = run.first; i < run.second; ++i) {
      const auto& p = problems[i];
      const int causal = p.causal_offset < 0 ? -1 : p.causal_offset - shared_rows;
      sequences.push_back({p.q.data + column, p.q.ld, p.q.rows, p.k.data + column, p.k.ld,
                           p.v.data + column, p.v.ld, p.k.rows, causal, p.out.data + column,
                           p.out.ld});
      scratch = std::max(scratch, static_cast<std::size_t>(shared_rows + p.k.rows));
    }
    SharedKeys shared;
    if (shared_rows > 0) {
      shared = {first.shared_k.data + column, first.shared_k.ld, first.shared_v.data + column,
                first.shared_v.ld, shared_rows};
    }
    small_attention_shared(shared, sequences, head_dim, scale, scratch_floats(scratch));
  }

  // Attention with head h's keys and values at key_of(h) and value_of(h).
  template <typename KeyOf, typename ValueOf>
  void attend_heads(MatrixView q, int total_keys, int n_heads, float scale, int causal_offset,
                    MutableMatrixView out, const KeyOf& key_of, const ValueOf& value_of) {
    const int head_dim = q.cols / n_heads;
    if (q.rows <= kSmallAttentionRows) {
      // Decoding: a few query rows. Read K and V in place, one task per head; a product
      // routine would spend more time packing K and V than multiplying.
      const int keys =
          causal_offset < 0 ? total_keys : std::min(total_keys, q.rows + causal_offset);
      const auto head = [&](int h) {
        const int column = h * head_dim;
        const HeadView k = key_of(h);
        const HeadView v = value_of(h);
        float* scores = scratch_floats(static_cast<std::size_t>(q.rows) * keys);
        small_attention(q.data + column, q.ld, q.rows, k.data, k.ld, v.data, v.ld, keys, head_dim,
                        scale, causal_offset, scores, out.data + column, out.ld);
      };
      const std::int64_t work = static_cast<std::int64_t>(q.rows) * keys * q.cols;
      if (work < kParallelWork) {
        for (int h = 0; h < n_heads; ++h) head(h);
      } else {
        pool_.run(n_heads, head);
      }
      return;
    }
    const int row_blocks = ceil_div(q.rows, kAttentionRows);
    const auto task = [&](int t) {
      const int h = t / row_blocks;
      const int r0 = (t % row_blocks) * kAttentionRows;
      const int rows = std::min(kAttentionRows, q.rows - r0);
      const int column = h * head_dim;
      const HeadView k = key_of(h);
      const HeadView v = value_of(h);
      flash_attention(q.data + static_cast<std::size_t>(r0) * q.ld + column, q.ld, rows, k.data,
                      k.ld, v.data, v.ld, total_keys, head_dim, scale,
                      causal_offset < 0 ? -1 : causal_offset + r0,
                      out.data + static_cast<std::size_t>(r0) * out.ld + column, out.ld);
    };
    pool_.run(n_heads * row_blocks, task);
  }

  // Runs part(r0, r1, n0, n1) over an [m, n] output with inner dimension k: whole on this thread
  // when small; else in blocks of kProductRows rows (many rows: the encoder) or of
  // kProductColumns columns (few rows: decoding). The blocks have the same bounds whatever the
  // thread count: OpenBLAS rounds an output differently depending on the other rows and columns
  // of its call, and a transcript must not depend on --threads.
  template <typename Part>
  void split_product(int m, int n, int k, const Part& part) {
    const std::int64_t work = static_cast<std::int64_t>(m) * n * k;
    if (work < kParallelWork) {
      part(0, m, 0, n);
    } else if (m >= kProductRows) {
      pool_.run(ceil_div(m, kProductRows),
                [&](int b) { part(b * kProductRows, std::min(m, (b + 1) * kProductRows), 0, n); });
    } else {
      pool_.run(ceil_div(n, kProductColumns), [&](int b) {
        part(0, m, b * kProductColumns, std::min(n, (b + 1) * kProductColumns));
      });
    }
  }

  const Blas& blas_;
  CpuIsa isa_;
  ThreadPool pool_;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> cpu_kernel_paths() {
  const CpuIsa isa = cpu_isa();
  vector_ops_limit_to(isa);
  const std::string highway = std::string("Highway ") + vector_ops_target();
  // The encoder's attention under the reduced compute types (attention_reduced).
  std::string encoder = highway;
  if (i16_attention_supported()) {
    encoder = isa == CpuIsa::kAvx2 ? "int16 vpmaddwd" : "int16 vpdpwssd";
  }
  return {{"int8 gemm", std::string(cpu_isa_name(isa))},
          {"float gemm", std::string("OpenBLAS ") + blas().core + " (few rows: " + highway + ")"},
          {"vector ops", highway},
          {"attention", highway},
          {"encoder attention", encoder}};
}

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace amanuensis::kernels
