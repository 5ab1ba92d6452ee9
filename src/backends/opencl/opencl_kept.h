// A decoder step's activations on the device (kernels::Backend::keep_on_device): a device buffer
// for each host range a thread keeps, reused by its next steps while the range stays the same,
// and the copies between such buffers, host views and other device buffers that the ops need.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>

#include "backends/opencl/opencl_runtime.h"
#include "kernels/backend.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::backends::opencl {

// Where a matrix lies on the device: `offset` floats into `buffer`, rows `ld` floats apart.
struct DevicePlace {
  cl_mem buffer = nullptr;
  std::size_t offset = 0;
  std::size_t ld = 0;
};

// Not thread-safe: the backend calls it under its own lock. Threads keep ranges of their own.
class KeptRanges {
 public:
  // Makes each range kept, with a device buffer of its size (the one it had, if large enough; a
  // new one is zeroed on `queue`).
  void keep(cl_context context, cl_command_queue queue, std::span<const std::span<float>> ranges);
  // The ranges are no longer kept; their buffers wait for the same ranges' next step.
  void end(std::span<const std::span<float>> ranges) noexcept;

  // The device place of host view `m` when all of it lies in one kept range.
  [[nodiscard]] std::optional<DevicePlace> find(kernels::MatrixView m) const;
  // Whether any range is kept now.
  [[nodiscard]] bool any() const { return active_ > 0; }

 private:
  struct Range {
    Memory memory;
    std::size_t capacity = 0;  // floats the buffer holds
    std::size_t floats = 0;    // floats the range has
    bool active = false;
  };
  // Buffers of ranges no longer used beyond this many are freed (scratch that moved).
  static constexpr std::size_t kIdleRanges = 32;

  std::map<const float*, Range> ranges_;
  int active_ = 0;
};

// A new device buffer of `floats` floats, zeroed on `queue`: a product with beta 0 may still read
// its output, and garbage there can be a NaN.
Memory zeroed_buffer(cl_context context, cl_command_queue queue, std::size_t floats,
                     const char* what);
// Rows of `cols` floats from one device place to another, on the device (no bus, no wait).
void copy_on_device(cl_command_queue queue, DevicePlace from, DevicePlace to, std::size_t rows,
                    std::size_t cols);
// Host view -> device place, without waiting (the host keeps `from` unchanged until the queue
// has run it); counted as sent.
void write_to_device(cl_command_queue queue, kernels::MatrixView from, DevicePlace to,
                     kernels::TrafficCounter& traffic);
// Device place -> host view, waiting for it; counted as received and as a wait.
void read_to_host(cl_command_queue queue, DevicePlace from, kernels::MutableMatrixView to,
                  kernels::TrafficCounter& traffic);

}  // namespace amanuensis::backends::opencl
