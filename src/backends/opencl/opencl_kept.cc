#include "backends/opencl/opencl_kept.h"

#include <algorithm>
#include <iterator>

namespace amanuensis::backends::opencl {

namespace {

constexpr std::size_t kFloat = sizeof(float);

// The floats a view spans, from its first element to its last.
std::size_t spanned_floats(kernels::MatrixView m) {
  return (static_cast<std::size_t>(m.rows) - 1) * m.ld + m.cols;
}

// Whether rows `ld` floats apart, `cols` wide, are one block (no gaps between them).
bool contiguous(std::size_t rows, std::size_t cols, std::size_t ld) {
  return rows == 1 || ld == cols;
}

}  // namespace

Memory zeroed_buffer(cl_context context, cl_command_queue queue, std::size_t floats,
                     const char* what) {
  cl_int status = CL_SUCCESS;
  Memory memory(clCreateBuffer(context, CL_MEM_READ_WRITE, floats * kFloat, nullptr, &status));
  check(status, what);
  const float zero = 0.0F;
  check(clEnqueueFillBuffer(queue, memory.get(), &zero, sizeof zero, 0, floats * kFloat, 0, nullptr,
                            nullptr),
        "clEnqueueFillBuffer");
  return memory;
}

void KeptRanges::keep(cl_context context, cl_command_queue queue,
                      std::span<const std::span<float>> ranges) {
  std::size_t idle = 0;
  for (auto it = ranges_.begin(); it != ranges_.end();) {
    const float* begin = it->first;
    const float* end = begin + it->second.floats;
    const bool overlaps = std::any_of(ranges.begin(), ranges.end(), [&](std::span<float> r) {
      return r.data() != begin && r.data() < end && begin < r.data() + r.size();
    });
    // Another range's old place (the scratch moved): its buffer can go.
    if (!it->second.active && overlaps) {
      it = ranges_.erase(it);
      continue;
    }
    idle += it->second.active ? 0 : 1;
    ++it;
  }
  if (idle > kIdleRanges) std::erase_if(ranges_, [](const auto& r) { return !r.second.active; });
  for (const std::span<float> r : ranges) {
    Range& range = ranges_[r.data()];
    const std::size_t floats = std::max<std::size_t>(r.size(), 1);
    if (range.capacity < floats) {
      range.memory.reset();
      range.capacity = 0;
      range.memory = zeroed_buffer(context, queue, floats, "clCreateBuffer (activations)");
      range.capacity = floats;
    }
    range.floats = r.size();
    if (!range.active) ++active_;
    range.active = true;
  }
}

void KeptRanges::end(std::span<const std::span<float>> ranges) noexcept {
  for (const std::span<float> r : ranges) {
    const auto found = ranges_.find(r.data());
    if (found == ranges_.end() || !found->second.active) continue;
    found->second.active = false;
    --active_;
  }
}

std::optional<DevicePlace> KeptRanges::find(kernels::MatrixView m) const {
  if (active_ == 0 || m.rows <= 0 || m.cols <= 0) return std::nullopt;
  auto it = ranges_.upper_bound(m.data);
  if (it == ranges_.begin()) return std::nullopt;
  it = std::prev(it);
  const Range& range = it->second;
  const auto offset = static_cast<std::size_t>(m.data - it->first);
  if (!range.active || offset + spanned_floats(m) > range.floats) return std::nullopt;
  return DevicePlace{range.memory.get(), offset, static_cast<std::size_t>(m.ld)};
}

void copy_on_device(cl_command_queue queue, DevicePlace from, DevicePlace to, std::size_t rows,
                    std::size_t cols) {
  if (rows == 0 || cols == 0) return;
  if (from.buffer == to.buffer && from.offset == to.offset && from.ld == to.ld) return;
  if (contiguous(rows, cols, from.ld) && contiguous(rows, cols, to.ld)) {
    check(clEnqueueCopyBuffer(queue, from.buffer, to.buffer, from.offset * kFloat,
                              to.offset * kFloat, rows * cols * kFloat, 0, nullptr, nullptr),
          "clEnqueueCopyBuffer (activations)");
    return;
  }
  const std::size_t source[3] = {from.offset * kFloat, 0, 0};
  const std::size_t target[3] = {to.offset * kFloat, 0, 0};
  const std::size_t region[3] = {cols * kFloat, rows, 1};
  check(clEnqueueCopyBufferRect(queue, from.buffer, to.buffer, source, target, region,
                                from.ld * kFloat, 0, to.ld * kFloat, 0, 0, nullptr, nullptr),
        "clEnqueueCopyBufferRect (activations)");
}

void write_to_device(cl_command_queue queue, kernels::MatrixView from, DevicePlace to,
                     kernels::TrafficCounter& traffic) {
  const auto rows = static_cast<std::size_t>(from.rows);
  const auto cols = static_cast<std::size_t>(from.cols);
  if (rows == 0 || cols == 0) return;
  const auto ld = static_cast<std::size_t>(from.ld);
  if (contiguous(rows, cols, ld) && contiguous(rows, cols, to.ld)) {
    check(clEnqueueWriteBuffer(queue, to.buffer, CL_FALSE, to.offset * kFloat, rows * cols * kFloat,
                               from.data, 0, nullptr, nullptr),
          "clEnqueueWriteBuffer (activations)");
  } else {
    const std::size_t target[3] = {to.offset * kFloat, 0, 0};
    const std::size_t source[3] = {0, 0, 0};
    const std::size_t region[3] = {cols * kFloat, rows, 1};
    check(
        clEnqueueWriteBufferRect(queue, to.buffer, CL_FALSE, target, source, region, to.ld * kFloat,
                                 0, ld * kFloat, 0, from.data, 0, nullptr, nullptr),
        "clEnqueueWriteBufferRect (activations)");
  }
  traffic.sent(rows * cols * kFloat);
}

void read_to_host(cl_command_queue queue, DevicePlace from, kernels::MutableMatrixView to,
                  kernels::TrafficCounter& traffic) {
  const auto rows = static_cast<std::size_t>(to.rows);
  const auto cols = static_cast<std::size_t>(to.cols);
  if (rows == 0 || cols == 0) return;
  const auto ld = static_cast<std::size_t>(to.ld);
  if (contiguous(rows, cols, ld) && contiguous(rows, cols, from.ld)) {
    check(clEnqueueReadBuffer(queue, from.buffer, CL_TRUE, from.offset * kFloat,
                              rows * cols * kFloat, to.data, 0, nullptr, nullptr),
          "clEnqueueReadBuffer (activations)");
  } else {
    const std::size_t source[3] = {from.offset * kFloat, 0, 0};
    const std::size_t target[3] = {0, 0, 0};
    const std::size_t region[3] = {cols * kFloat, rows, 1};
    check(
        clEnqueueReadBufferRect(queue, from.buffer, CL_TRUE, source, target, region,
                                from.ld * kFloat, 0, ld * kFloat, 0, to.data, 0, nullptr, nullptr),
        "clEnqueueReadBufferRect (activations)");
  }
  traffic.received(rows * cols * kFloat);
  traffic.waited();
}

}  // namespace amanuensis::backends::opencl
