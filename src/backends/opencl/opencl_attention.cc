// The OpenCL backend's attention ops: two batched CLBlast products around our softmax per group
// of heads, over keys and values that cross the bus once (resident ranges, resident rows).
#include <algorithm>
#include <memory>

#include "backends/opencl/opencl_backend_impl.h"

namespace amanuensis::backends::opencl {

void OpenClBackend::attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                              int causal_offset, MutableMatrixView out) {
  if (q.rows == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto head_dim = static_cast<std::size_t>(q.cols / n_heads);
  cl_mem dk = scratch(1, dense_floats(k));
  cl_mem dv = scratch(3, dense_floats(v));
  upload(dk, k);
  upload(dv, v);
  // Head h's keys: columns [h * head_dim, (h + 1) * head_dim) of the dense [keys, d] copy.
  attend(q, {dk, static_cast<std::size_t>(k.cols), head_dim},
         {dv, static_cast<std::size_t>(v.cols), head_dim}, static_cast<std::size_t>(k.rows),
         n_heads, scale, causal_offset, out);
}

// The beams of a window share their prompt's keys and values (AttentionProblem::shared_k),
// which the model makes resident while it decodes the window: they cross the bus once. Each
// beam's own rows, which the model makes resident rows, grow a device copy of their own (each
// row sent once). A problem's keys are then the prompt's device copy followed by the beam's.
// Problems whose shared rows are not resident, or whose rows are not dense, are stacked on the
// host (the base class's way); own rows that are not resident are sent per call.
void OpenClBackend::attention_many(std::span<const kernels::AttentionProblem> problems, int n_heads,
                                   float scale) {
  for (const auto& p : problems) {
    bool on_host = p.k.ld != p.k.cols || p.v.ld != p.v.cols;
    {
      const std::lock_guard lock(mutex_);
      on_host = on_host || (p.shared_k.rows > 0 &&
                            !(shared_on_device(p.shared_k) && shared_on_device(p.shared_v)));
      if (on_host && rows_ahead_of_host(p)) {
        throw DeviceError("OpenCL: decoder cache rows are only on the device");
      }
    }
    if (on_host) {
      Backend::attention_many({&p, 1}, n_heads, scale);
      continue;
    }
    if (p.q.rows == 0) continue;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    const int keys = p.shared_k.rows + p.k.rows;
    const auto d = static_cast<std::size_t>(p.k.cols);
    cl_mem dk = keys_on_device(p.shared_k, p.k, 1);
    cl_mem dv = keys_on_device(p.shared_v, p.v, 3);
    const std::size_t head_dim = d / n_heads;
    attend(p.q, {dk, d, head_dim}, {dv, d, head_dim}, static_cast<std::size_t>(keys), n_heads,
           scale, p.causal_offset, p.out);
  }
}

// Cross-attention: keys and values head by head, the same for every decoding step of a window,
// which the model makes resident while it decodes it: they cross the bus once per window.
void OpenClBackend::attention_head_major(MatrixView q, const float* k, const float* v, int keys,
                                         int n_heads, float scale, MutableMatrixView out) {
  if (q.rows == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const int head_dim = q.cols / n_heads;
  const auto dk = window_constant(k, n_heads * keys, head_dim);
  const auto dv = window_constant(v, n_heads * keys, head_dim);
  const auto head_stride = static_cast<std::size_t>(keys) * head_dim;
  attend(q, {dk->get(), static_cast<std::size_t>(head_dim), head_stride},
         {dv->get(), static_cast<std::size_t>(head_dim), head_stride},
         static_cast<std::size_t>(keys), n_heads, scale, -1, out);
}

// A float16 cache is converted back to float32 rows on the host when it is uploaded, once per
// window, and then attended like attention_head_major's. Steps that want scores (word
// timestamps, rare) take the base class's unfused path.
void OpenClBackend::attention_half_cache(MatrixView q, const kernels::HalfKeyValues& kv,
                                         float scale, MutableMatrixView out,
                                         std::span<float* const> head_scores) {
  if (q.rows == 0) return;
  if (wants_scores(head_scores)) {
    Backend::attention_half_cache(q, kv, scale, out, head_scores);
    return;
  }
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto dk = half_window_constant(kv, /*keys=*/true);
  const auto dv = half_window_constant(kv, /*keys=*/false);
  const auto head_dim = static_cast<std::size_t>(kv.head_dim);
  attend(q, {dk->get(), head_dim, kv.value_head_size()},
         {dv->get(), head_dim, kv.value_head_size()}, static_cast<std::size_t>(kv.n_keys),
         kv.n_heads, scale, -1, out);
}

// softmax(scale q k^T) v per head, with the scores of as many heads as fit kScoreBudgetBytes
// at once: two batched CLBlast products around our softmax. Expects the lock held.
void OpenClBackend::attend(MatrixView q, HeadLayout k, HeadLayout v, std::size_t keys, int n_heads,
                           float scale, int causal_offset, MutableMatrixView out) {
  const auto rows = static_cast<std::size_t>(q.rows);
  const auto d = static_cast<std::size_t>(q.cols);
  const std::size_t head_dim = d / n_heads;
  const std::size_t per_head = rows * keys;
  const auto heads_at_once = static_cast<int>(
      std::clamp<std::size_t>(kScoreBudgetBytes / (per_head * sizeof(float)), 1, n_heads));
  const DevicePlace pq = place_of(q, 0);
  cl_mem dscores = scratch(4, per_head * heads_at_once);
  cl_mem dout = scratch(2, rows * d);
  cl_command_queue queue = queue_.get();
  for (int h0 = 0; h0 < n_heads; h0 += heads_at_once) {
    const auto heads = static_cast<std::size_t>(std::min(heads_at_once, n_heads - h0));
    const std::size_t column = h0 * head_dim;
    clblast_check(clblast::GemmStridedBatched<float>(
                      clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kYes,
                      rows, keys, head_dim, scale, pq.buffer, pq.offset + column, pq.ld, head_dim,
                      k.buffer, h0 * k.head_stride, k.ld, k.head_stride, 0.0F, dscores, 0, keys,
                      per_head, heads, &queue),
                  "scores");
    set_args(softmax_.get(), dscores, static_cast<cl_int>(keys), static_cast<cl_int>(rows),
             static_cast<cl_int>(causal_offset));
    run_rows(softmax_.get(), static_cast<int>(heads * rows));
    clblast_check(
        clblast::GemmStridedBatched<float>(
            clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kNo, rows,
            head_dim, keys, 1.0F, dscores, 0, keys, per_head, v.buffer, h0 * v.head_stride, v.ld,
            v.head_stride, 0.0F, dout, column, d, head_dim, heads, &queue),
        "weighted values");
  }
  deliver(dout, out);
}

// Whether `shared` (dense rows) has a device copy to keep: a resident range, or resident rows
// (a beam's cache that became the window's shared prompt).
bool OpenClBackend::shared_on_device(MatrixView shared) const {
  return shared.ld == shared.cols &&
         (resident_.contains(shared.data, kernels::view_bytes(shared)) ||
          row_mirrors_.holds(shared.data, dense_floats(shared)));
}

// Whether a problem reads cache rows that exist only on the device (which the host's
// stacking in Backend::attention_many cannot read).
bool OpenClBackend::rows_ahead_of_host(const kernels::AttentionProblem& p) const {
  return row_mirrors_.ahead_of_host(p.k.data) || row_mirrors_.ahead_of_host(p.v.data) ||
         (p.shared_k.rows > 0 && (row_mirrors_.ahead_of_host(p.shared_k.data) ||
                                  row_mirrors_.ahead_of_host(p.shared_v.data)));
}

// The device rows of resident `shared` (copied once) followed by `own`'s dense rows (from their
// mirror, or sent): own's mirror itself when nothing is shared, else both stacked in scratch
// `slot`.
cl_mem OpenClBackend::keys_on_device(MatrixView shared, MatrixView own, int slot) {
  const std::size_t own_floats = dense_floats(own);
  cl_mem mirror = own.rows == 0 ? nullptr
                                : row_mirrors_.sync(context_.get(), queue_.get(), own.data,
                                                    own_floats, traffic_);
  if (shared.rows == 0 && mirror != nullptr) return mirror;
  const std::size_t shared_bytes = shared.rows == 0 ? 0 : kernels::view_bytes(shared);
  cl_mem buffer = scratch(slot, shared_bytes / sizeof(float) + own_floats);
  if (shared.rows > 0) {
    // The prompt's resident rows (a beam's cache before the beams split), or its kept copy.
    cl_mem rows = row_mirrors_.sync(context_.get(), queue_.get(), shared.data, dense_floats(shared),
                                    traffic_);
    std::shared_ptr<Memory> copy;
    if (rows == nullptr) {
      copy = window_constant(shared.data, shared.rows, shared.cols);
      rows = copy->get();
    }
    check(clEnqueueCopyBuffer(queue_.get(), rows, buffer, 0, 0, shared_bytes, 0, nullptr, nullptr),
          "clEnqueueCopyBuffer");
  }
  if (own.rows == 0) return buffer;
  const std::size_t own_bytes = own_floats * sizeof(float);
  if (mirror != nullptr) {
    check(clEnqueueCopyBuffer(queue_.get(), mirror, buffer, 0, shared_bytes, own_bytes, 0, nullptr,
                              nullptr),
          "clEnqueueCopyBuffer");
    return buffer;
  }
  check(clEnqueueWriteBuffer(queue_.get(), buffer, CL_FALSE, shared_bytes, own_bytes, own.data, 0,
                             nullptr, nullptr),
        "clEnqueueWriteBuffer");
  traffic_.sent(own_bytes);
  return buffer;
}

std::shared_ptr<Memory> OpenClBackend::window_constant(const float* data, int rows, int cols) {
  const std::size_t bytes = static_cast<std::size_t>(rows) * cols * sizeof(float);
  return window_constants_.get(data, bytes, rows, cols, cols,
                               [&] { return new_buffer(data, bytes); });
}

// The float32 copy, [n_heads * n_keys, head_dim], of kv's keys or values.
std::shared_ptr<Memory> OpenClBackend::half_window_constant(const kernels::HalfKeyValues& kv,
                                                            bool keys) {
  const std::uint16_t* data = keys ? kv.keys : kv.values;
  const std::size_t bytes = (keys ? kv.key_elements() : kv.value_elements()) * 2;
  return window_constants_.get(data, bytes, kv.n_heads * kv.n_keys, kv.head_dim, kv.head_dim, [&] {
    const auto host = kernels::unpack_half(kv, keys);
    return new_buffer(host.data(), host.size() * sizeof(float));
  });
}

}  // namespace amanuensis::backends::opencl
