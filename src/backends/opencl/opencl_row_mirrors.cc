#include "backends/opencl/opencl_row_mirrors.h"

#include <algorithm>
#include <iterator>

#include "backends/provider.h"

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
  if (mirror.lost) {
    throw DeviceError("OpenCL: decoder cache rows that were only on the device were lost");
  }
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
  mirror.ahead = false;
  const auto source = mirrors_.find(from);
  if (source == mirrors_.end()) return;
  mirror.lost = source->second.lost;
  if (source->second.memory.get() == nullptr) return;
  const std::size_t rows = std::min({floats, source->second.valid, mirror.capacity});
  if (rows == 0) return;
  try {
    allocate(context, mirror);
    check(clEnqueueCopyBuffer(queue, source->second.memory.get(), mirror.memory.get(), 0, 0,
                              rows * sizeof(float), 0, nullptr, nullptr),
          "clEnqueueCopyBuffer (cache rows)");
    mirror.valid = rows;
    mirror.ahead = source->second.ahead;
  } catch (...) {
    // `to` is sent again when read, unless its rows were only on the device.
    mirror.lost = mirror.lost || source->second.ahead;
  }
}

std::optional<DevicePlace> RowMirrors::append(cl_context context, cl_command_queue queue,
                                              const float* to, std::size_t floats, std::size_t ld,
                                              kernels::TrafficCounter& traffic) {
  auto found = mirrors_.upper_bound(to);
  if (found == mirrors_.begin()) return std::nullopt;
  found = std::prev(found);
  const auto* base = static_cast<const float*>(found->first);
  const auto offset = static_cast<std::size_t>(to - base);
  if (offset + floats > found->second.capacity) return std::nullopt;
  auto& mirror = found->second;
  // Rows before `to` that the device lacks were written on the host: they go first.
  if (offset > mirror.valid) static_cast<void>(sync(context, queue, base, offset, traffic));
  allocate(context, mirror);
  mirror.valid = offset + floats;
  mirror.ahead = true;
  return DevicePlace{mirror.memory.get(), offset, ld};
}

bool RowMirrors::holds(const void* data, std::size_t floats) const {
  const auto found = mirrors_.find(data);
  return found != mirrors_.end() && floats <= found->second.capacity;
}

bool RowMirrors::ahead_of_host(const void* data) const {
  const auto found = mirrors_.find(data);
  return found != mirrors_.end() && (found->second.ahead || found->second.lost);
}

}  // namespace amanuensis::backends::opencl
