// A running DeviceTraffic (kernels/backend.h) that several threads add to: the OpenCL and CUDA
// backends' own count, and the model's sum over its decoder steps. Relaxed atomics: readers want
// totals, not an order between them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"

namespace amanuensis::kernels {

class TrafficCounter {
 public:
  void sent(std::size_t bytes) { add(host_to_device_, bytes); }
  void received(std::size_t bytes) { add(device_to_host_, bytes); }
  void waited() { syncs_.fetch_add(1, std::memory_order_relaxed); }
  void add(const DeviceTraffic& traffic) {
    syncs_.fetch_add(traffic.syncs, std::memory_order_relaxed);
    host_to_device_.fetch_add(traffic.host_to_device_bytes, std::memory_order_relaxed);
    device_to_host_.fetch_add(traffic.device_to_host_bytes, std::memory_order_relaxed);
  }

  [[nodiscard]] DeviceTraffic totals() const {
    return {.syncs = syncs_.load(std::memory_order_relaxed),
            .host_to_device_bytes = host_to_device_.load(std::memory_order_relaxed),
            .device_to_host_bytes = device_to_host_.load(std::memory_order_relaxed)};
  }

 private:
  static void add(std::atomic<std::int64_t>& total, std::size_t bytes) {
    total.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  }

  std::atomic<std::int64_t> syncs_{0};
  std::atomic<std::int64_t> host_to_device_{0};
  std::atomic<std::int64_t> device_to_host_{0};
};

}  // namespace amanuensis::kernels
