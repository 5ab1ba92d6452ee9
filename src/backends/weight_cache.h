// Device copies of weight matrices, kept for the life of a backend so that each weight crosses
// the bus once, not on every call. The kernels::Backend interface passes host pointers, so a
// weight is found again by its host address and shape plus a fingerprint of sampled values:
// weights never change while a model uses them, and a different matrix that reuses a freed
// address (in a test, say) shows different samples and is uploaded afresh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

namespace amanuensis::backends {

// FNV-1a of the size and of up to 64 evenly spaced 4-byte words plus the last one.
std::uint64_t fingerprint(const void* data, std::size_t bytes);

template <typename DeviceBuffer>
class WeightCache {
 public:
  // Beyond `max_bytes` of device copies the cache is emptied and starts again (weights come
  // back in the same order every window, so anything smarter buys little).
  explicit WeightCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // The device copy of host[0, bytes) viewed as `rows` x `cols` with row stride `ld`, made by
  // `upload()` (returning a DeviceBuffer) when it is not cached yet. Callers keep the returned
  // pointer while they use the buffer, so an eviction by another thread cannot free it.
  template <typename Upload>
  std::shared_ptr<DeviceBuffer> get(const void* host, std::size_t bytes, int rows, int cols, int ld,
                                    const Upload& upload) {
    const Key key{host, bytes, rows, cols, ld};
    const auto print = fingerprint(host, bytes);
    {
      const std::lock_guard lock(mutex_);
      const auto found = entries_.find(key);
      if (found != entries_.end() && found->second.fingerprint == print)
        return found->second.buffer;
    }
    auto buffer = std::make_shared<DeviceBuffer>(upload());
    const std::lock_guard lock(mutex_);
    if (const auto old = entries_.find(key); old != entries_.end()) {
      used_bytes_ -= old->second.bytes;
      entries_.erase(old);
    }
    if (used_bytes_ + bytes > max_bytes_) {
      entries_.clear();
      used_bytes_ = 0;
    }
    entries_[key] = Entry{print, bytes, buffer};
    used_bytes_ += bytes;
    return buffer;
  }

  [[nodiscard]] std::size_t used_bytes() const {
    const std::lock_guard lock(mutex_);
    return used_bytes_;
  }

 private:
  using Key = std::tuple<const void*, std::size_t, int, int, int>;
  struct Entry {
    std::uint64_t fingerprint = 0;
    std::size_t bytes = 0;
    std::shared_ptr<DeviceBuffer> buffer;
  };
  std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::size_t used_bytes_ = 0;
};

}  // namespace amanuensis::backends
