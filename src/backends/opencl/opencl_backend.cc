#include "backends/opencl/opencl_backend.h"

#include <clblast.h>

#include <algorithm>
#include <array>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/opencl/opencl_kernels.h"
#include "backends/opencl/opencl_row_mirrors.h"
#include "backends/provider.h"
#include "backends/resident_copies.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::backends::opencl {

namespace {

using kernels::MatrixView;
using kernels::MutableMatrixView;

// Dense layers with at most this many rows run as matrix-vector products.
constexpr int kGemvRows = 8;
// Attention scores of this many bytes at most are held at once; more heads go in turns.
constexpr std::size_t kScoreBudgetBytes = std::size_t{64} << 20;

std::size_t round_up(std::size_t value, std::size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

std::size_t dense_floats(MatrixView m) { return static_cast<std::size_t>(m.rows) * m.cols; }

// Waits for the queue when an op leaves by an exception, so that no copy still reads or writes
// host memory the caller is about to free.
class FinishOnThrow {
 public:
  explicit FinishOnThrow(cl_command_queue queue)
      : queue_(queue), exceptions_(std::uncaught_exceptions()) {}
  ~FinishOnThrow() {
    if (std::uncaught_exceptions() > exceptions_) clFinish(queue_);
  }
  FinishOnThrow(const FinishOnThrow&) = delete;
  FinishOnThrow& operator=(const FinishOnThrow&) = delete;

 private:
  cl_command_queue queue_;
  int exceptions_;
};

struct Int8Weights {
  Memory q;       // [rows, padded_cols] int8, row-major
  Memory scales;  // [rows]
};

class OpenClBackend final : public kernels::Backend {
 public:
  explicit OpenClBackend(DeviceInfo device) : device_(std::move(device)) {
    std::size_t max_group = 0;
    check(clGetDeviceInfo(device_.id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group,
                          nullptr),
          "clGetDeviceInfo");
    if (max_group < static_cast<std::size_t>(kRowGroupSize)) {
      throw DeviceError("OpenCL device " + device_.name + " allows work-groups of " +
                        std::to_string(max_group) + " items; the kernels need " +
                        std::to_string(kRowGroupSize));
    }
    cl_int status = CL_SUCCESS;
    const cl_context_properties properties[] = {
        CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(device_.platform), 0};
    context_ = Context(clCreateContext(properties, 1, &device_.id, nullptr, nullptr, &status));
    check(status, "clCreateContext");
    queue_ = Queue(clCreateCommandQueue(context_.get(), device_.id, 0, &status));
    check(status, "clCreateCommandQueue");
    const char* source = kKernelSource;
    program_ = Program(clCreateProgramWithSource(context_.get(), 1, &source, nullptr, &status));
    check(status, "clCreateProgramWithSource");
    const std::string options = "-cl-std=CL1.2 -DROW_GROUP=" + std::to_string(kRowGroupSize);
    status = clBuildProgram(program_.get(), 1, &device_.id, options.c_str(), nullptr, nullptr);
    if (status != CL_SUCCESS) throw DeviceError("OpenCL kernels did not build: " + build_log());
    layer_norm_ = make_kernel("layer_norm");
    softmax_ = make_kernel("softmax_rows");
    gelu_ = make_kernel("gelu");
    add_ = make_kernel("add");
    bias_rows_ = make_kernel("bias_rows");
    quantize_rows_ = make_kernel("quantize_rows");
    int8_gemm_ = make_kernel("int8_gemm");
  }

  [[nodiscard]] std::string_view name() const override { return "opencl"; }

  [[nodiscard]] std::optional<kernels::DeviceTraffic> traffic() const override {
    return traffic_.totals();
  }

  void make_resident(const void* data, std::size_t bytes) override { resident_.add(data, bytes); }
  void release_resident(const void* data) override {
    {
      const std::lock_guard lock(mutex_);
      row_mirrors_.remove(data);
    }
    const auto range = resident_.remove(data);
    if (!range) return;
    float_weights_.drop(range->first, range->second);
    int8_weights_.drop(range->first, range->second);
    window_constants_.drop(range->first, range->second);
  }
  void make_resident_rows(const float* data, std::size_t capacity) override {
    const std::lock_guard lock(mutex_);
    row_mirrors_.add(data, capacity);
  }
  void copy_resident_rows(const float* from, const float* to, std::size_t floats) override {
    const std::lock_guard lock(mutex_);
    row_mirrors_.copy(context_.get(), queue_.get(), from, to, floats);
  }
  // Weights cross at load, dense (float) or as plain rows with a scale each (int8).
  void make_resident_weight(MatrixView weight) override {
    Backend::make_resident_weight(weight);  // the range
    (void)weight_buffer(weight);
  }
  void make_resident_int8_weight(const kernels::Int8Matrix& weight) override {
    Backend::make_resident_int8_weight(weight);
    (void)int8_weight_buffers(weight);
  }

  [[nodiscard]] std::string describe() const override {
    return "opencl " + device_.name + " (" + device_.platform_name + "), clblast sgemm";
  }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override {
    if (c.rows == 0 || c.cols == 0) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    cl_mem da = scratch(0, dense_floats(a));
    cl_mem db = scratch(1, dense_floats(b));
    cl_mem dc = scratch(2, static_cast<std::size_t>(c.rows) * c.cols);
    upload(da, a);
    upload(db, b);
    if (beta != 0.0F) upload(dc, {c.data, c.rows, c.cols, c.ld});
    gemm(transpose_b, c.rows, c.cols, a.cols, alpha, da, 0, a.cols, db, 0, b.cols, beta, dc, 0,
         c.cols);
    download(dc, c);
  }

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override {
    if (y.rows == 0 || y.cols == 0) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    const auto w = weight_buffer(weight);
    cl_mem dx = scratch(0, dense_floats(x));
    cl_mem dy = scratch(2, static_cast<std::size_t>(y.rows) * y.cols);
    upload(dx, x);
    float beta = 0.0F;
    if (!bias.empty()) {
      fill_bias_rows(bias, dy, y.rows, y.cols);
      beta = 1.0F;
    }
    if (y.rows <= kGemvRows) {
      // Decoding: a few rows are matrix-vector products, which read the weights as they lie.
      cl_command_queue queue = queue_.get();
      for (int r = 0; r < y.rows; ++r) {
        const auto row = static_cast<std::size_t>(r);
        clblast_check(clblast::Gemv<float>(clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                                           y.cols, x.cols, 1.0F, w->get(), 0, weight.cols, dx,
                                           row * x.cols, 1, beta, dy, row * y.cols, 1, &queue),
                      "sgemv");
      }
    } else {
      gemm(/*transpose_b=*/true, y.rows, y.cols, x.cols, 1.0F, dx, 0, x.cols, w->get(), 0,
           weight.cols, beta, dy, 0, y.cols);
    }
    download(dy, y);
  }

  void linear_int8(MatrixView x, const kernels::Int8Matrix& weight, std::span<const float> bias,
                   MutableMatrixView y) override {
    if (y.rows == 0 || y.cols == 0) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    const auto w = int8_weight_buffers(weight);
    const auto padded = static_cast<std::size_t>(weight.padded_cols);
    cl_mem dx = scratch(0, dense_floats(x));
    cl_mem dq = scratch(1, (static_cast<std::size_t>(x.rows) * padded + 3) / 4);
    cl_mem ds = scratch(3, static_cast<std::size_t>(x.rows));
    cl_mem dy = scratch(2, static_cast<std::size_t>(y.rows) * y.cols);
    upload(dx, x);
    set_args(quantize_rows_.get(), dx, static_cast<cl_int>(x.cols), static_cast<cl_int>(padded), dq,
             ds);
    run_rows(quantize_rows_.get(), x.rows);
    const auto b = bias.empty() ? nullptr : constant_buffer(bias);
    set_args(int8_gemm_.get(), dq, ds, w->q.get(), w->scales.get(), b ? b->get() : ds,
             static_cast<cl_int>(b ? 1 : 0), static_cast<cl_int>(weight.rows),
             static_cast<cl_int>(padded / 4), dy);
    run_2d(int8_gemm_.get(), static_cast<std::size_t>(weight.rows),
           static_cast<std::size_t>(x.rows));
    download(dy, y);
  }

  void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                 int causal_offset, MutableMatrixView out) override {
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
  void attention_many(std::span<const kernels::AttentionProblem> problems, int n_heads,
                      float scale) override {
    for (const auto& p : problems) {
      const bool shared_resident =
          p.shared_k.rows == 0 || (shared_on_device(p.shared_k) && shared_on_device(p.shared_v));
      if (!shared_resident || p.k.ld != p.k.cols || p.v.ld != p.v.cols) {
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
  void attention_head_major(MatrixView q, const float* k, const float* v, int keys, int n_heads,
                            float scale, MutableMatrixView out) override {
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
  void attention_half_cache(MatrixView q, const kernels::HalfKeyValues& kv, float scale,
                            MutableMatrixView out, std::span<float* const> head_scores) override {
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

  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override {
    if (x.rows == 0) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    const auto g = constant_buffer(gamma);
    const auto b = constant_buffer(beta);
    cl_mem dx = scratch(0, static_cast<std::size_t>(x.rows) * x.cols);
    upload(dx, {x.data, x.rows, x.cols, x.ld});
    set_args(layer_norm_.get(), dx, g->get(), b->get(), static_cast<cl_int>(x.cols), epsilon);
    run_rows(layer_norm_.get(), x.rows);
    download(dx, x);
  }

  void gelu(std::span<float> x) override {
    if (x.empty()) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    cl_mem dx = scratch(0, x.size());
    write(dx, x.data(), x.size());
    set_args(gelu_.get(), dx, static_cast<cl_int>(x.size()));
    run_1d(gelu_.get(), x.size());
    read(dx, x.data(), x.size());
  }

  void softmax_rows(MutableMatrixView x, int causal_offset) override {
    if (x.rows == 0) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    cl_mem dx = scratch(0, static_cast<std::size_t>(x.rows) * x.cols);
    upload(dx, {x.data, x.rows, x.cols, x.ld});
    set_args(softmax_.get(), dx, static_cast<cl_int>(x.cols), static_cast<cl_int>(x.rows),
             static_cast<cl_int>(causal_offset));
    run_rows(softmax_.get(), x.rows);
    download(dx, x);
  }

  void add(std::span<const float> x, std::span<float> y) override {
    if (y.empty()) return;
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    cl_mem dx = scratch(0, y.size());
    cl_mem dy = scratch(1, y.size());
    write(dx, x.data(), y.size());
    write(dy, y.data(), y.size());
    set_args(add_.get(), dx, dy, static_cast<cl_int>(y.size()));
    run_1d(add_.get(), y.size());
    read(dy, y.data(), y.size());
  }

 private:
  struct Scratch {
    Memory memory;
    std::size_t floats = 0;
  };

  std::string build_log() const {
    std::size_t size = 0;
    clGetProgramBuildInfo(program_.get(), device_.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
    std::string log(size, '\0');
    clGetProgramBuildInfo(program_.get(), device_.id, CL_PROGRAM_BUILD_LOG, size, log.data(),
                          nullptr);
    return log.substr(0, 2000);
  }

  Kernel make_kernel(const char* kernel_name) {
    cl_int status = CL_SUCCESS;
    Kernel kernel(clCreateKernel(program_.get(), kernel_name, &status));
    check(status, "clCreateKernel");
    return kernel;
  }

  // Device buffer `slot`, grown to hold at least `floats` floats.
  cl_mem scratch(int slot, std::size_t floats) {
    auto& s = scratch_[static_cast<std::size_t>(slot)];
    floats = std::max<std::size_t>(floats, 1);
    if (s.floats < floats) {
      s.memory.reset();
      s.floats = 0;
      cl_int status = CL_SUCCESS;
      s.memory = Memory(clCreateBuffer(context_.get(), CL_MEM_READ_WRITE, floats * sizeof(float),
                                       nullptr, &status));
      check(status, "clCreateBuffer");
      s.floats = floats;
    }
    return s.memory.get();
  }

  Memory new_buffer(const void* data, std::size_t bytes) {
    cl_int status = CL_SUCCESS;
    Memory memory(clCreateBuffer(context_.get(), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                 std::max<std::size_t>(bytes, 4), const_cast<void*>(data),
                                 &status));
    check(status, "clCreateBuffer (weights)");
    traffic_.sent(bytes);
    return memory;
  }

  std::shared_ptr<Memory> weight_buffer(MatrixView w) {
    const std::size_t bytes = kernels::view_bytes(w);
    return float_weights_.get(w.data, bytes, w.rows, w.cols, w.ld, [&] {
      if (w.ld == w.cols) return new_buffer(w.data, bytes);
      std::vector<float> dense(dense_floats(w));
      for (int r = 0; r < w.rows; ++r) {
        std::copy_n(w.data + static_cast<std::size_t>(r) * w.ld, w.cols,
                    dense.begin() + static_cast<std::ptrdiff_t>(r) * w.cols);
      }
      return new_buffer(dense.data(), dense.size() * sizeof(float));
    });
  }

  // Biases, gammas and betas: model constants, kept like weights when resident.
  std::shared_ptr<Memory> constant_buffer(std::span<const float> values) {
    const int n = static_cast<int>(values.size());
    return float_weights_.get(values.data(), values.size_bytes(), 1, n, n,
                              [&] { return new_buffer(values.data(), values.size_bytes()); });
  }

  std::shared_ptr<Int8Weights> int8_weight_buffers(const kernels::Int8Matrix& w) {
    return int8_weights_.get(w.packed.data(), w.packed.size(), w.rows, w.cols, w.padded_cols, [&] {
      // Unpack the CPU kernels' 16x4 blocks into plain rows for the device kernel, which takes
      // one scale per row (block-scaled weights are quantised per row for it).
      const auto per_row = w.blocked() ? kernels::per_row_int8(w) : kernels::Int8Matrix{};
      const auto& m = w.blocked() ? per_row : w;
      std::vector<std::int8_t> rows(static_cast<std::size_t>(m.rows) * m.padded_cols, 0);
      for (int r = 0; r < m.rows; ++r) {
        for (int c = 0; c < m.cols; ++c)
          rows[static_cast<std::size_t>(r) * m.padded_cols + c] = m.q(r, c);
      }
      return Int8Weights{
          new_buffer(rows.data(), rows.size()),
          new_buffer(m.scales.data(), static_cast<std::size_t>(m.rows) * sizeof(float))};
    });
  }

  void write(cl_mem buffer, const float* data, std::size_t floats) {
    check(clEnqueueWriteBuffer(queue_.get(), buffer, CL_FALSE, 0, floats * sizeof(float), data, 0,
                               nullptr, nullptr),
          "clEnqueueWriteBuffer");
    traffic_.sent(floats * sizeof(float));
  }

  void read(cl_mem buffer, float* data, std::size_t floats) {
    check(clEnqueueReadBuffer(queue_.get(), buffer, CL_TRUE, 0, floats * sizeof(float), data, 0,
                              nullptr, nullptr),
          "clEnqueueReadBuffer");
    traffic_.received(floats * sizeof(float));
    traffic_.waited();  // a blocking read
  }

  // Host view (any row stride) -> dense device matrix.
  void upload(cl_mem buffer, MatrixView m) {
    if (m.ld == m.cols || m.rows == 1) {
      write(buffer, m.data, dense_floats(m));
      return;
    }
    const std::size_t origin[3] = {0, 0, 0};
    const std::size_t region[3] = {static_cast<std::size_t>(m.cols) * sizeof(float),
                                   static_cast<std::size_t>(m.rows), 1};
    check(clEnqueueWriteBufferRect(queue_.get(), buffer, CL_FALSE, origin, origin, region,
                                   static_cast<std::size_t>(m.cols) * sizeof(float), 0,
                                   static_cast<std::size_t>(m.ld) * sizeof(float), 0, m.data, 0,
                                   nullptr, nullptr),
          "clEnqueueWriteBufferRect");
    traffic_.sent(dense_floats(m) * sizeof(float));
  }

  // Dense device matrix -> host view; the host's columns beyond m.cols are left alone.
  void download(cl_mem buffer, MutableMatrixView m) {
    if (m.ld == m.cols || m.rows == 1) {
      read(buffer, m.data, static_cast<std::size_t>(m.rows) * m.cols);
      return;
    }
    const std::size_t origin[3] = {0, 0, 0};
    const std::size_t region[3] = {static_cast<std::size_t>(m.cols) * sizeof(float),
                                   static_cast<std::size_t>(m.rows), 1};
    check(clEnqueueReadBufferRect(queue_.get(), buffer, CL_TRUE, origin, origin, region,
                                  static_cast<std::size_t>(m.cols) * sizeof(float), 0,
                                  static_cast<std::size_t>(m.ld) * sizeof(float), 0, m.data, 0,
                                  nullptr, nullptr),
          "clEnqueueReadBufferRect");
    traffic_.received(static_cast<std::size_t>(m.rows) * m.cols * sizeof(float));
    traffic_.waited();
  }

  void fill_bias_rows(std::span<const float> bias, cl_mem y, int rows, int cols) {
    const auto b = constant_buffer(bias);
    set_args(bias_rows_.get(), b->get(), y, static_cast<cl_int>(cols));
    run_2d(bias_rows_.get(), static_cast<std::size_t>(cols), static_cast<std::size_t>(rows));
  }

  template <typename... Args>
  void set_args(cl_kernel kernel, const Args&... args) {
    cl_uint index = 0;
    // sizeof(Args) is intended where Args is a pointer: an OpenCL kernel argument's size is that of
    // the handle itself, sizeof(cl_mem) for a buffer (a pointer to an opaque struct).
    // NOLINTNEXTLINE(bugprone-sizeof-expression): intended, see above
    (check(clSetKernelArg(kernel, index++, sizeof(Args), &args), "clSetKernelArg"), ...);
  }

  void run_rows(cl_kernel kernel, int rows) {
    const std::size_t local = kRowGroupSize;
    const std::size_t global = static_cast<std::size_t>(rows) * local;
    check(clEnqueueNDRangeKernel(queue_.get(), kernel, 1, nullptr, &global, &local, 0, nullptr,
                                 nullptr),
          "clEnqueueNDRangeKernel");
  }

  void run_1d(cl_kernel kernel, std::size_t n) {
    const std::size_t global = round_up(n, 64);
    check(clEnqueueNDRangeKernel(queue_.get(), kernel, 1, nullptr, &global, nullptr, 0, nullptr,
                                 nullptr),
          "clEnqueueNDRangeKernel");
  }

  void run_2d(cl_kernel kernel, std::size_t columns, std::size_t rows) {
    const std::size_t global[2] = {round_up(columns, 16), rows};
    check(clEnqueueNDRangeKernel(queue_.get(), kernel, 2, nullptr, global, nullptr, 0, nullptr,
                                 nullptr),
          "clEnqueueNDRangeKernel");
  }

  // Where each head's keys (or values) are in a device buffer: head h starts at h * head_stride,
  // rows `ld` apart.
  struct HeadLayout {
    cl_mem buffer;
    std::size_t ld;
    std::size_t head_stride;
  };

  // softmax(scale q k^T) v per head, with the scores of as many heads as fit kScoreBudgetBytes
  // at once: two batched CLBlast products around our softmax. Expects the lock held.
  void attend(MatrixView q, HeadLayout k, HeadLayout v, std::size_t keys, int n_heads, float scale,
              int causal_offset, MutableMatrixView out) {
    const auto rows = static_cast<std::size_t>(q.rows);
    const auto d = static_cast<std::size_t>(q.cols);
    const std::size_t head_dim = d / n_heads;
    const std::size_t per_head = rows * keys;
    const auto heads_at_once = static_cast<int>(
        std::clamp<std::size_t>(kScoreBudgetBytes / (per_head * sizeof(float)), 1, n_heads));
    cl_mem dq = scratch(0, dense_floats(q));
    cl_mem dscores = scratch(4, per_head * heads_at_once);
    cl_mem dout = scratch(2, rows * d);
    upload(dq, q);
    cl_command_queue queue = queue_.get();
    for (int h0 = 0; h0 < n_heads; h0 += heads_at_once) {
      const auto heads = static_cast<std::size_t>(std::min(heads_at_once, n_heads - h0));
      const std::size_t column = h0 * head_dim;
      clblast_check(
          clblast::GemmStridedBatched<float>(
              clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kYes, rows,
              keys, head_dim, scale, dq, column, d, head_dim, k.buffer, h0 * k.head_stride, k.ld,
              k.head_stride, 0.0F, dscores, 0, keys, per_head, heads, &queue),
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
    download(dout, out);
  }

  // Whether `shared` (dense rows) lies in a resident range, so that its device copy may be kept.
  [[nodiscard]] bool shared_on_device(MatrixView shared) const {
    return shared.ld == shared.cols && resident_.contains(shared.data, kernels::view_bytes(shared));
  }

  // The device rows of resident `shared` (copied once) followed by `own`'s dense rows (from their
  // mirror, or sent): own's mirror itself when nothing is shared, else both stacked in scratch
  // `slot`.
  cl_mem keys_on_device(MatrixView shared, MatrixView own, int slot) {
    const std::size_t own_floats = dense_floats(own);
    cl_mem mirror = own.rows == 0 ? nullptr
                                  : row_mirrors_.sync(context_.get(), queue_.get(), own.data,
                                                      own_floats, traffic_);
    if (shared.rows == 0 && mirror != nullptr) return mirror;
    const std::size_t shared_bytes = shared.rows == 0 ? 0 : kernels::view_bytes(shared);
    cl_mem buffer = scratch(slot, shared_bytes / sizeof(float) + own_floats);
    if (shared.rows > 0) {
      const auto copy = window_constant(shared.data, shared.rows, shared.cols);
      check(clEnqueueCopyBuffer(queue_.get(), copy->get(), buffer, 0, 0, shared_bytes, 0, nullptr,
                                nullptr),
            "clEnqueueCopyBuffer");
    }
    if (own.rows == 0) return buffer;
    const std::size_t own_bytes = own_floats * sizeof(float);
    if (mirror != nullptr) {
      check(clEnqueueCopyBuffer(queue_.get(), mirror, buffer, 0, shared_bytes, own_bytes, 0,
                                nullptr, nullptr),
            "clEnqueueCopyBuffer");
      return buffer;
    }
    check(clEnqueueWriteBuffer(queue_.get(), buffer, CL_FALSE, shared_bytes, own_bytes, own.data, 0,
                               nullptr, nullptr),
          "clEnqueueWriteBuffer");
    traffic_.sent(own_bytes);
    return buffer;
  }

  std::shared_ptr<Memory> window_constant(const float* data, int rows, int cols) {
    const std::size_t bytes = static_cast<std::size_t>(rows) * cols * sizeof(float);
    return window_constants_.get(data, bytes, rows, cols, cols,
                                 [&] { return new_buffer(data, bytes); });
  }

  // The float32 copy, [n_heads * n_keys, head_dim], of kv's keys or values.
  std::shared_ptr<Memory> half_window_constant(const kernels::HalfKeyValues& kv, bool keys) {
    const std::uint16_t* data = keys ? kv.keys : kv.values;
    const std::size_t bytes = (keys ? kv.key_elements() : kv.value_elements()) * 2;
    return window_constants_.get(data, bytes, kv.n_heads * kv.n_keys, kv.head_dim, kv.head_dim,
                                 [&] {
                                   const auto host = kernels::unpack_half(kv, keys);
                                   return new_buffer(host.data(), host.size() * sizeof(float));
                                 });
  }

  static void clblast_check(clblast::StatusCode status, const char* what) {
    if (status != clblast::StatusCode::kSuccess) {
      throw DeviceError(std::string("CLBlast ") + what + ": status " +
                        std::to_string(static_cast<int>(status)));
    }
  }

  void gemm(bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha, cl_mem a,
            std::size_t a_offset, std::size_t lda, cl_mem b, std::size_t b_offset, std::size_t ldb,
            float beta, cl_mem c, std::size_t c_offset, std::size_t ldc) {
    cl_command_queue queue = queue_.get();
    clblast_check(clblast::Gemm<float>(
                      clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                      transpose_b ? clblast::Transpose::kYes : clblast::Transpose::kNo, m, n, k,
                      alpha, a, a_offset, lda, b, b_offset, ldb, beta, c, c_offset, ldc, &queue),
                  "sgemm");
  }

  std::mutex mutex_;
  DeviceInfo device_;
  Context context_;
  Queue queue_;
  Program program_;
  Kernel layer_norm_, softmax_, gelu_, add_, bias_rows_, quantize_rows_, int8_gemm_;
  std::array<Scratch, 5> scratch_;
  ResidentRanges resident_;
  ResidentCopies<Memory> float_weights_{resident_};
  ResidentCopies<Int8Weights> int8_weights_{resident_};
  ResidentCopies<Memory> window_constants_{resident_};
  RowMirrors row_mirrors_;  // under mutex_
  kernels::TrafficCounter traffic_;
};

}  // namespace

std::unique_ptr<kernels::Backend> make_opencl_backend(const DeviceInfo& device) {
  return std::make_unique<OpenClBackend>(device);
}

}  // namespace amanuensis::backends::opencl
