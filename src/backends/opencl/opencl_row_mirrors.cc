#include "backends/opencl/opencl_row_mirrors.h"

#include <algorithm>

namespace amanuensis::backends::opencl {

void RowMirrors::add(const float* data, std::size_t capacity) {
  auto& mirror = mirrors_[data];
  if (mirror.capacity != capacity) {
    mirror.memory.reset();
    mirror.capacity = capacity;
  }
  mirror.valid = 0;
}

void RowMirrors::remove(const void* data) { mirrors_.erase(data); }

void RowMirrors::allocate(cl_context context, Mirror& mirror) {
  if (mirror.memory.get() != nullptr) return;
  cl_int status = CL_SUCCESS;
  mirror.memory = Memory(clCreateBuffer(context, CL_MEM_READ_WRITE,
                                        std::max<std::size_t>(mirror.capacity, 1) * sizeof(float),
                                        nullptr, &status));
  check(status, "clCreateBuffer (cache rows)");
}

cl_mem RowMirrors::sync(cl_context context, cl_command_queue queue, const float* data,
                        std::size_t floats, kernels::TrafficCounter& traffic) {
  const auto found = mirrors_.find(data);
  if (found == mirrors_.end() || floats > found->second.capacity) return nullptr;
  auto& mirror = found->second;
  allocate(context, mirror);
  if (floats > mirror.valid) {
    const std::size_t bytes = (floats - mirror.valid) * sizeof(float);
    check(clEnqueueWriteBuffer(queue, mirror.memory.get(), CL_FALSE, mirror.valid * sizeof(float),
                               bytes, data + mirror.valid, 0, nullptr, nullptr),
          "clEnqueueWriteBuffer (cache rows)");
    traffic.sent(bytes);
    mirror.valid = floats;
  }
  return mirror.memory.get();
}

void RowMirrors::copy(cl_context context, cl_command_queue queue, const float* from,
                      const float* to, std::size_t floats) noexcept {
  const auto target = mirrors_.find(to);
  if (target == mirrors_.end()) return;
  auto& mirror = target->second;
  mirror.valid = 0;
  const auto source = mirrors_.find(from);
  if (source == mirrors_.end() || source->second.memory.get() == nullptr) return;
  const std::size_t rows = std::min({floats, source->second.valid, mirror.capacity});
  if (rows == 0) return;
  try {
    allocate(context, mirror);
    check(clEnqueueCopyBuffer(queue, source->second.memory.get(), mirror.memory.get(), 0, 0,
                              rows * sizeof(float), 0, nullptr, nullptr),
          "clEnqueueCopyBuffer (cache rows)");
    mirror.valid = rows;
  } catch (...) {  // NOLINT(bugprone-empty-catch): documented, `to` is sent again when read
  }
}

}  // namespace amanuensis::backends::opencl
