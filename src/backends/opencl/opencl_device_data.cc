// The OpenCL backend's device data: scratch and resident buffers, transfers between host views,
// kept activations and device buffers, and kernel launches.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backends/opencl/opencl_backend_impl.h"

namespace amanuensis::backends::opencl {

std::string OpenClBackend::build_log() const {
  std::size_t size = 0;
  clGetProgramBuildInfo(program_.get(), device_.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
  std::string log(size, '\0');
  clGetProgramBuildInfo(program_.get(), device_.id, CL_PROGRAM_BUILD_LOG, size, log.data(),
                        nullptr);
  return log.substr(0, 2000);
}

Kernel OpenClBackend::make_kernel(const char* kernel_name) {
  cl_int status = CL_SUCCESS;
  Kernel kernel(clCreateKernel(program_.get(), kernel_name, &status));
  check(status, "clCreateKernel");
  return kernel;
}

// Device buffer `slot`, grown to hold at least `floats` floats.
cl_mem OpenClBackend::scratch(int slot, std::size_t floats) {
  auto& s = scratch_[static_cast<std::size_t>(slot)];
  floats = std::max<std::size_t>(floats, 1);
  if (s.floats < floats) {
    s.memory.reset();
    s.floats = 0;
    s.memory = zeroed_buffer(context_.get(), queue_.get(), floats, "clCreateBuffer");
    s.floats = floats;
  }
  return s.memory.get();
}

Memory OpenClBackend::new_buffer(const void* data, std::size_t bytes) {
  cl_int status = CL_SUCCESS;
  Memory memory(clCreateBuffer(context_.get(), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               std::max<std::size_t>(bytes, 4), const_cast<void*>(data), &status));
  check(status, "clCreateBuffer (weights)");
  traffic_.sent(bytes);
  return memory;
}

std::shared_ptr<Memory> OpenClBackend::weight_buffer(MatrixView w) {
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
std::shared_ptr<Memory> OpenClBackend::constant_buffer(std::span<const float> values) {
  const int n = static_cast<int>(values.size());
  return float_weights_.get(values.data(), values.size_bytes(), 1, n, n,
                            [&] { return new_buffer(values.data(), values.size_bytes()); });
}

std::shared_ptr<Int8Weights> OpenClBackend::int8_weight_buffers(const kernels::Int8Matrix& w) {
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

// Host view (any row stride) -> dense device matrix.
void OpenClBackend::upload(cl_mem buffer, MatrixView m) {
  write_to_device(queue_.get(), m, {buffer, 0, static_cast<std::size_t>(m.cols)}, traffic_);
}

// A blocking read: everything queued before it is done, so no kept work is pending.
void OpenClBackend::download(DevicePlace from, MutableMatrixView m) {
  read_to_host(queue_.get(), from, m, traffic_);
  pending_ = false;
}

void OpenClBackend::fill_bias_rows(std::span<const float> bias, cl_mem y, int rows, int cols) {
  const auto b = constant_buffer(bias);
  set_args(bias_rows_.get(), b->get(), y, static_cast<cl_int>(cols));
  run_2d(bias_rows_.get(), static_cast<std::size_t>(cols), static_cast<std::size_t>(rows));
}

void OpenClBackend::run_rows(cl_kernel kernel, int rows) {
  const std::size_t local = kRowGroupSize;
  const std::size_t global = static_cast<std::size_t>(rows) * local;
  check(clEnqueueNDRangeKernel(queue_.get(), kernel, 1, nullptr, &global, &local, 0, nullptr,
                               nullptr),
        "clEnqueueNDRangeKernel");
}

void OpenClBackend::run_1d(cl_kernel kernel, std::size_t n) {
  const std::size_t global = round_up(n, 64);
  check(clEnqueueNDRangeKernel(queue_.get(), kernel, 1, nullptr, &global, nullptr, 0, nullptr,
                               nullptr),
        "clEnqueueNDRangeKernel");
}

void OpenClBackend::run_2d(cl_kernel kernel, std::size_t columns, std::size_t rows) {
  const std::size_t global[2] = {round_up(columns, 16), rows};
  check(clEnqueueNDRangeKernel(queue_.get(), kernel, 2, nullptr, global, nullptr, 0, nullptr,
                               nullptr),
        "clEnqueueNDRangeKernel");
}

// An op's input: its kept device copy (keep_on_device), or sent dense into scratch `slot`.
DevicePlace OpenClBackend::place_of(MatrixView m, int slot) {
  if (const auto kept = kept_.find(m)) return *kept;
  cl_mem buffer = scratch(slot, dense_floats(m));
  upload(buffer, m);
  return {buffer, 0, static_cast<std::size_t>(m.cols)};
}

// The same, dense from the buffer's start (as our kernels read it): a kept copy that is not
// is copied on the device into scratch `slot`.
cl_mem OpenClBackend::dense_input(MatrixView m, int slot) {
  const auto kept = kept_.find(m);
  if (!kept) return place_of(m, slot).buffer;
  if (kept->offset == 0 && (m.rows == 1 || m.ld == m.cols)) return kept->buffer;
  cl_mem buffer = scratch(slot, dense_floats(m));
  copy_on_device(queue_.get(), *kept, {buffer, 0, static_cast<std::size_t>(m.cols)},
                 static_cast<std::size_t>(m.rows), static_cast<std::size_t>(m.cols));
  return buffer;
}

// Where an op computes its result for host view `m` (dense from the buffer's start): m's kept
// copy when that is so placed, else scratch `slot`; deliver() then takes it to m.
cl_mem OpenClBackend::result_buffer(MutableMatrixView m, int slot) {
  const auto kept = kept_.find({m.data, m.rows, m.cols, m.ld});
  if (kept && kept->offset == 0 && (m.rows == 1 || m.ld == m.cols)) return kept->buffer;
  return scratch(slot, static_cast<std::size_t>(m.rows) * m.cols);
}

// A result, dense in `buffer`, to host view `m`: into m's kept copy on the device, or brought
// to the host (which waits for it).
void OpenClBackend::deliver(cl_mem buffer, MutableMatrixView m) {
  if (const auto kept = kept_.find({m.data, m.rows, m.cols, m.ld})) {
    copy_on_device(queue_.get(), {buffer, 0, static_cast<std::size_t>(m.cols)}, *kept,
                   static_cast<std::size_t>(m.rows), static_cast<std::size_t>(m.cols));
    pending_ = true;
    return;
  }
  download({buffer, 0, static_cast<std::size_t>(m.cols)}, m);
}

void OpenClBackend::clblast_check(clblast::StatusCode status, const char* what) {
  if (status != clblast::StatusCode::kSuccess) {
    throw DeviceError(std::string("CLBlast ") + what + ": status " +
                      std::to_string(static_cast<int>(status)));
  }
}

void OpenClBackend::gemm(bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                         cl_mem a, std::size_t a_offset, std::size_t lda, cl_mem b,
                         std::size_t b_offset, std::size_t ldb, float beta, cl_mem c,
                         std::size_t c_offset, std::size_t ldc) {
  cl_command_queue queue = queue_.get();
  clblast_check(clblast::Gemm<float>(
                    clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                    transpose_b ? clblast::Transpose::kYes : clblast::Transpose::kNo, m, n, k,
                    alpha, a, a_offset, lda, b, b_offset, ldb, beta, c, c_offset, ldc, &queue),
                "sgemm");
}

}  // namespace amanuensis::backends::opencl
