// The compute a transformer needs, behind one interface so that other devices can supply it.
// Matrices are row-major float32; `ld*` arguments are row strides in elements, which lets callers
// address one attention head inside a wider matrix without copying. Nothing here knows Whisper.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/half_cache.h"
#include "kernels/int8_gemm.h"

namespace amanuensis::kernels {

struct MatrixView {
  const float* data;
  int rows;
  int cols;
  int ld;  // elements between the starts of consecutive rows
};

// The bytes a view spans in memory, from its first element to its last (row strides included).
inline std::size_t view_bytes(MatrixView m) {
  return (static_cast<std::size_t>(m.rows - 1) * m.ld + m.cols) * sizeof(float);
}

struct MutableMatrixView {
  float* data;
  int rows;
  int cols;
  int ld;
};

// One problem of Backend::attention_many: its queries, keys and values (all heads side by side,
// as attention() takes them), its causal offset and where its output goes. `shared_k` and
// `shared_v`, when they have rows, are keys and values seen before k's and v's: a prompt that
// several problems (the beams of one window) have in common and that is stored once. The
// problem is then attention over the two laid end to end; causal_offset counts from the first
// shared row.
struct AttentionProblem {
  MatrixView q;
  MatrixView k;
  MatrixView v;
  int causal_offset;
  MutableMatrixView out;
  MatrixView shared_k{nullptr, 0, 0, 0};
  MatrixView shared_v{nullptr, 0, 0, 0};
};

// The ops of Backend, for supports().
enum class Op {
  kMatmul,
  kLinear,
  kLinearInt8,
  kAttention,
  kAttentionMany,
  kAttentionReduced,
  kAttentionHeadMajor,
  kAttentionHalfCache,
  kLayerNorm,
  kGelu,
  kSoftmaxRows,
  kAdd,
  kCopyRows,
};

// What a device backend has moved across the bus and waited for since it was made: the cost of
// keeping data on the host. Counts only; a backend that computes in host memory has none.
struct DeviceTraffic {
  std::int64_t syncs = 0;                 // waits of the host for the device to finish its work
  std::int64_t host_to_device_bytes = 0;  // weights, activations and caches sent to the device
  std::int64_t device_to_host_bytes = 0;  // results brought back

  DeviceTraffic& operator-=(const DeviceTraffic& other) {
    syncs -= other.syncs;
    host_to_device_bytes -= other.host_to_device_bytes;
    device_to_host_bytes -= other.device_to_host_bytes;
    return *this;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;

  [[nodiscard]] virtual std::string_view name() const = 0;
  // What the kernels run with, for logs and benchmarks (e.g. "cpu x2, int8 gemm avx512, float gemm
  // OpenBLAS SkylakeX, vector ops Highway AVX3, attention Highway AVX3").
  [[nodiscard]] virtual std::string describe() const = 0;

  // Whether this backend runs `op` on its own device; false where it hands the op to another
  // (kernels::PartialBackend, whose fallback is the CPU). Every op works either way.
  [[nodiscard]] virtual bool supports(Op /*op*/) const { return true; }

  // The traffic so far of a backend on a device with memory of its own (OpenCL, CUDA), summed
  // over every thread; nullopt for one that computes in host memory (the CPU). Thread-safe.
  [[nodiscard]] virtual std::optional<DeviceTraffic> traffic() const { return std::nullopt; }

  // Host memory that stays unchanged until release_resident(data): a model's weights for its life,
  // a window's cross-attention keys and values while it is decoded. A backend with memory of its
  // own keeps a copy of what ops read from a resident range, made the first time, and sends it
  // again only after release_resident; what lies outside every resident range is sent on each call.
  // The owner releases a range before it changes or frees that memory. Nothing on the CPU.
  // Thread-safe, but a range is not released while an op reads it.
  virtual void make_resident(const void* /*data*/, std::size_t /*bytes*/) {}
  virtual void release_resident(const void* /*data*/) {}
  // Host rows that only grow: a decoder's self-attention cache of `capacity` floats, appended to
  // row by row. The owner promises that what an op has read from it stays unchanged until
  // release_resident(data), except through copy_resident_rows. A backend with memory of its own
  // keeps a device copy that grows as ops read further, so that each row crosses once; what lies
  // beyond the rows read so far is sent when an op first reads it. Nothing on the CPU.
  virtual void make_resident_rows(const float* /*data*/, std::size_t /*capacity*/) {}
  // The owner has copied the first `floats` values of resident rows `from` over those of `to`
  // (beam search duplicating a beam): a backend copies its device rows alongside, on the device.
  // Never throws: a copy that fails leaves `to` to be sent again when it is next read.
  virtual void copy_resident_rows(const float* /*from*/, const float* /*to*/,
                                  std::size_t /*floats*/) {}
  // make_resident() for a dense layer's weights, as linear() or linear_int8() reads them: a device
  // backend copies them now, in the layout it computes with, rather than at their first use. By
  // default only the range is made resident.
  virtual void make_resident_weight(MatrixView weight) {
    make_resident(weight.data, view_bytes(weight));
  }
  virtual void make_resident_int8_weight(const Int8Matrix& weight) {
    make_resident(weight.packed.data(), weight.packed.size());
  }
  // make_resident() for a window's cross-attention keys and values as attention_head_major
  // (float32, head by head: `keys` rows of head_dim per head) or attention_half_cache (float16)
  // read them: a device backend copies them now, in its layout, rather than at the window's first
  // decoder step. By default only the ranges are made resident.
  virtual void make_resident_head_major(const float* k, const float* v, int keys, int n_heads,
                                        int head_dim) {
    const auto bytes = static_cast<std::size_t>(keys) * n_heads * head_dim * sizeof(float);
    make_resident(k, bytes);
    make_resident(v, bytes);
  }
  virtual void make_resident_half_cache(const HalfKeyValues& kv) {
    make_resident(kv.keys, kv.key_elements() * sizeof(std::uint16_t));
    make_resident(kv.values, kv.value_elements() * sizeof(std::uint16_t));
  }

  // A decoder step's activations, kept on a device between the step's ops. From
  // keep_on_device(ranges) until end_keep_on_device(ranges), a backend with memory of its own
  // keeps a device copy of each host range: ops that write into a range write only that copy,
  // and ops that read from one read it, so that nothing of them crosses the bus or is waited for.
  // The host memory of the ranges is meanwhile stale: the host puts rows in and takes them out
  // with copy_rows only. Rows that copy_rows puts from a kept range into resident rows
  // (make_resident_rows) are likewise only on the device, until those rows are released.
  // The ranges are the calling thread's scratch: they do not overlap, and stay allocated and the
  // same size until end_keep_on_device. Nothing on the CPU (host memory is the only copy).
  virtual void keep_on_device(std::span<const std::span<float>> /*ranges*/) {}
  virtual void end_keep_on_device(std::span<const std::span<float>> /*ranges*/) noexcept {}

  // to = from, row by row (the same shape): rows moved between buffers through the backend, so
  // that rows on a device (keep_on_device) are copied there. By default on the host.
  virtual void copy_rows(MatrixView from, MutableMatrixView to);

  // c = alpha * a * op(b) + beta * c, where op(b) is b or its transpose.
  virtual void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
                      MutableMatrixView c) = 0;

  // y[r] = x[r] * w^T + bias for every row: a dense layer with weights stored [out, in].
  virtual void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
                      MutableMatrixView y) = 0;

  // The same with int8 weights (per-row scales); x is quantised per row on the fly.
  virtual void linear_int8(MatrixView x, const Int8Matrix& weight, std::span<const float> bias,
                           MutableMatrixView y) = 0;

  // Multi-head scaled dot-product attention; each view holds all heads side by side
  // (head h is columns [h * cols / n_heads, (h + 1) * cols / n_heads)):
  // out_h = softmax(scale * q_h k_h^T) v_h, causal as in softmax_rows when causal_offset >= 0.
  virtual void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                         int causal_offset, MutableMatrixView out) = 0;

  // attention() for each problem, all with n_heads heads and this scale: independent sequences
  // (the beams and windows of a decoding batch, each over its own cache), which a backend may
  // run side by side, reading keys they share once.
  // By default one after another, shared keys copied in front of each problem's own.
  virtual void attention_many(std::span<const AttentionProblem> problems, int n_heads, float scale);

  // attention() with every query row seeing every key, where the backend may compute the
  // products in a reduced precision (the CPU: bfloat16 with AVX-512 BF16). For compute types
  // that ask for less than float32; by default exactly attention().
  virtual void attention_reduced(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                                 MutableMatrixView out) {
    attention(q, k, v, n_heads, scale, -1, out);
  }

  // The same, every query row seeing every key, with keys and values stored head by head: head
  // h's keys are rows [h * keys, (h + 1) * keys) of a [n_heads * keys, head_dim] matrix k
  // (head_dim = q.cols / n_heads), likewise its values in v. Decoders cache cross-attention keys
  // and values so, which lets a few query rows stream each head's keys contiguously.
  virtual void attention_head_major(MatrixView q, const float* k, const float* v, int keys,
                                    int n_heads, float scale, MutableMatrixView out) {
    const int head_dim = q.cols / n_heads;
    for (int h = 0; h < n_heads; ++h) {
      const auto offset = static_cast<std::size_t>(h) * keys * head_dim;
      attention({q.data + h * head_dim, q.rows, head_dim, q.ld},
                {k + offset, keys, head_dim, head_dim}, {v + offset, keys, head_dim, head_dim}, 1,
                scale, -1, {out.data + h * head_dim, out.rows, head_dim, out.ld});
    }
  }

  // The same over a cache stored in float16 (kernels/half_cache.h: keys transposed in tiles,
  // values row by row), which halves what decoding reads per step. `head_scores` is empty or has
  // one pointer per head; a non-null one receives that head's scaled scores before the softmax,
  // [q.rows][kv.n_keys] (word timestamps align tokens with them). This default converts the
  // cache to float32 per call and runs attention_head_major, or matmul, softmax_rows and matmul
  // for heads whose scores are wanted: correct on any backend, fast on none. The CPU reads the
  // float16 cache in place; device backends convert it once per window when they upload it.
  virtual void attention_half_cache(MatrixView q, const HalfKeyValues& kv, float scale,
                                    MutableMatrixView out, std::span<float* const> head_scores);
  // Whether any head's scores are wanted (a non-null pointer in head_scores).
  static bool wants_scores(std::span<float* const> head_scores) {
    return std::any_of(head_scores.begin(), head_scores.end(),
                       [](const float* scores) { return scores != nullptr; });
  }

  // Normalises each row of x in place to zero mean and unit variance, then scales and shifts.
  virtual void layer_norm(MutableMatrixView x, std::span<const float> gamma,
                          std::span<const float> beta, float epsilon) = 0;

  // Exact (erf-based) GELU, in place.
  virtual void gelu(std::span<float> x) = 0;

  // Softmax of each row in place. With causal_offset >= 0, row r sees only columns
  // [0, r + causal_offset] and the rest become 0, so causal attention needs no mask matrix;
  // a negative causal_offset means every column is visible.
  virtual void softmax_rows(MutableMatrixView x, int causal_offset) = 0;

  // y += x, element-wise.
  virtual void add(std::span<const float> x, std::span<float> y) = 0;
};

// The path each CPU kernel family runs with here, as {family, path}: "int8 gemm" (our kernels:
// cpu_isa()), "float gemm" (the OpenBLAS core), "vector ops" and "attention" (the Highway target),
// e.g. {"int8 gemm", "avx2"}, {"float gemm", "OpenBLAS Haswell"}, {"vector ops", "Highway AVX2"}.
// Loads OpenBLAS and applies the int8 path's cap on Highway, as a CPU backend does.
std::vector<std::pair<std::string, std::string>> cpu_kernel_paths();

// The CPU backend: OpenBLAS (single-threaded) for float products, our int8 kernels, Highway for
// the rest, all spread over one pool of `threads` threads created here.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace amanuensis::kernels
