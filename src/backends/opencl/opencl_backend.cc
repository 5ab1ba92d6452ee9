#include "backends/opencl/opencl_backend.h"

#include <string>

#include "backends/opencl/opencl_backend_impl.h"
#include "backends/opencl/opencl_kernels.h"

namespace amanuensis::backends::opencl {

OpenClBackend::OpenClBackend(DeviceInfo device) : device_(std::move(device)) {
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

void OpenClBackend::release_resident(const void* data) {
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

// The step's work is waited for (once) before its scratch is the host's again.
void OpenClBackend::end_keep_on_device(std::span<const std::span<float>> ranges) noexcept {
  const std::lock_guard lock(mutex_);
  kept_.end(ranges);
  if (pending_ && clFinish(queue_.get()) == CL_SUCCESS) traffic_.waited();
  pending_ = false;
}

// A window's cross-attention caches cross when the window is encoded, not in its first step.
void OpenClBackend::make_resident_head_major(const float* k, const float* v, int keys, int n_heads,
                                             int head_dim) {
  Backend::make_resident_head_major(k, v, keys, n_heads, head_dim);  // the ranges
  const std::lock_guard lock(mutex_);
  (void)window_constant(k, n_heads * keys, head_dim);
  (void)window_constant(v, n_heads * keys, head_dim);
}

void OpenClBackend::make_resident_half_cache(const kernels::HalfKeyValues& kv) {
  Backend::make_resident_half_cache(kv);
  const std::lock_guard lock(mutex_);
  (void)half_window_constant(kv, /*keys=*/true);
  (void)half_window_constant(kv, /*keys=*/false);
}

void OpenClBackend::matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
                           MutableMatrixView c) {
  if (c.rows == 0 || c.cols == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const DevicePlace pa = place_of(a, 0);
  const DevicePlace pb = place_of(b, 1);
  cl_mem dc = beta != 0.0F ? dense_input({c.data, c.rows, c.cols, c.ld}, 2)
                           : scratch(2, static_cast<std::size_t>(c.rows) * c.cols);
  gemm(transpose_b, c.rows, c.cols, a.cols, alpha, pa.buffer, pa.offset, pa.ld, pb.buffer,
       pb.offset, pb.ld, beta, dc, 0, c.cols);
  deliver(dc, c);
}

void OpenClBackend::linear(MatrixView x, MatrixView weight, std::span<const float> bias,
                           MutableMatrixView y) {
  if (y.rows == 0 || y.cols == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto w = weight_buffer(weight);
  const DevicePlace px = place_of(x, 0);
  cl_mem dy = result_buffer(y, 2);
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
      clblast_check(
          clblast::Gemv<float>(clblast::Layout::kRowMajor, clblast::Transpose::kNo, y.cols, x.cols,
                               1.0F, w->get(), 0, weight.cols, px.buffer, px.offset + row * px.ld,
                               1, beta, dy, row * y.cols, 1, &queue),
          "sgemv");
    }
  } else {
    gemm(/*transpose_b=*/true, y.rows, y.cols, x.cols, 1.0F, px.buffer, px.offset, px.ld, w->get(),
         0, weight.cols, beta, dy, 0, y.cols);
  }
  deliver(dy, y);
}

void OpenClBackend::linear_int8(MatrixView x, const kernels::Int8Matrix& weight,
                                std::span<const float> bias, MutableMatrixView y) {
  if (y.rows == 0 || y.cols == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto w = int8_weight_buffers(weight);
  const auto padded = static_cast<std::size_t>(weight.padded_cols);
  cl_mem dx = dense_input(x, 0);
  cl_mem dq = scratch(1, (static_cast<std::size_t>(x.rows) * padded + 3) / 4);
  cl_mem ds = scratch(3, static_cast<std::size_t>(x.rows));
  cl_mem dy = result_buffer(y, 2);
  set_args(quantize_rows_.get(), dx, static_cast<cl_int>(x.cols), static_cast<cl_int>(padded), dq,
           ds);
  run_rows(quantize_rows_.get(), x.rows);
  const auto b = bias.empty() ? nullptr : constant_buffer(bias);
  set_args(int8_gemm_.get(), dq, ds, w->q.get(), w->scales.get(), b ? b->get() : ds,
           static_cast<cl_int>(b ? 1 : 0), static_cast<cl_int>(weight.rows),
           static_cast<cl_int>(padded / 4), dy);
  run_2d(int8_gemm_.get(), static_cast<std::size_t>(weight.rows), static_cast<std::size_t>(x.rows));
  deliver(dy, y);
}

void OpenClBackend::layer_norm(MutableMatrixView x, std::span<const float> gamma,
                               std::span<const float> beta, float epsilon) {
  if (x.rows == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto g = constant_buffer(gamma);
  const auto b = constant_buffer(beta);
  cl_mem dx = dense_input({x.data, x.rows, x.cols, x.ld}, 0);
  set_args(layer_norm_.get(), dx, g->get(), b->get(), static_cast<cl_int>(x.cols), epsilon);
  run_rows(layer_norm_.get(), x.rows);
  deliver(dx, x);
}

void OpenClBackend::gelu(std::span<float> x) {
  if (x.empty()) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto n = static_cast<int>(x.size());
  cl_mem dx = dense_input({x.data(), 1, n, n}, 0);
  set_args(gelu_.get(), dx, static_cast<cl_int>(x.size()));
  run_1d(gelu_.get(), x.size());
  deliver(dx, {x.data(), 1, n, n});
}

void OpenClBackend::softmax_rows(MutableMatrixView x, int causal_offset) {
  if (x.rows == 0) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  cl_mem dx = dense_input({x.data, x.rows, x.cols, x.ld}, 0);
  set_args(softmax_.get(), dx, static_cast<cl_int>(x.cols), static_cast<cl_int>(x.rows),
           static_cast<cl_int>(causal_offset));
  run_rows(softmax_.get(), x.rows);
  deliver(dx, x);
}

void OpenClBackend::add(std::span<const float> x, std::span<float> y) {
  if (y.empty()) return;
  const std::lock_guard lock(mutex_);
  const FinishOnThrow finish(queue_.get());
  const auto n = static_cast<int>(y.size());
  cl_mem dx = dense_input({x.data(), 1, n, n}, 0);
  cl_mem dy = dense_input({y.data(), 1, n, n}, 1);
  set_args(add_.get(), dx, dy, static_cast<cl_int>(y.size()));
  run_1d(add_.get(), y.size());
  deliver(dy, {y.data(), 1, n, n});
}

// Rows from a kept range go on the device: into another kept range, or appended to a decoder
// cache's resident rows (which then hold them only there); rows from the host into a kept range
// are sent. Only rows from a kept range to plain host memory are brought back (and waited for).
void OpenClBackend::copy_rows(MatrixView from, MutableMatrixView to) {
  if (from.rows == 0 || from.cols == 0) return;
  {
    const std::lock_guard lock(mutex_);
    const FinishOnThrow finish(queue_.get());
    const MatrixView target{to.data, to.rows, to.cols, to.ld};
    const auto rows = static_cast<std::size_t>(from.rows);
    const auto cols = static_cast<std::size_t>(from.cols);
    const auto source = kept_.find(from);
    const auto kept_target = kept_.find(target);
    if (source) {
      auto place = kept_target;
      if (!place) {
        place = row_mirrors_.append(context_.get(), queue_.get(), to.data,
                                    kernels::view_bytes(target) / sizeof(float),
                                    static_cast<std::size_t>(to.ld), traffic_);
      }
      if (!place) {
        download(*source, to);
        return;
      }
      copy_on_device(queue_.get(), *source, *place, rows, cols);
      pending_ = true;
      return;
    }
    if (kept_target) {
      write_to_device(queue_.get(), from, *kept_target, traffic_);
      pending_ = true;
      return;
    }
  }
  Backend::copy_rows(from, to);  // host to host
}

std::unique_ptr<kernels::Backend> make_opencl_backend(const DeviceInfo& device) {
  return std::make_unique<OpenClBackend>(device);
}

}  // namespace amanuensis::backends::opencl
