// Device copies of host data its owner made resident (kernels::Backend::make_resident): a model's
// weights for its life, a window's cross-attention keys and values while it is decoded. A copy is
// made the first time an op reads the data, in the layout that op wants, and kept until the owner
// releases the range; it is found again by host address and shape. Data outside every resident
// range belongs to the call: it is sent for that call and not kept, so memory that is rewritten
// or freed and reused can never be mistaken for what was there before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

namespace amanuensis::backends {

// The resident host ranges of one backend. Thread-safe.
class ResidentRanges {
 public:
  // [host, host + bytes) stays unchanged until remove(host). A range starting at the same
  // address replaces the old one.
  void add(const void* host, std::size_t bytes);
  // Forgets the range that starts at `host`; returns it as [begin, end), or nullopt when there is
  // none (a release of memory that was never resident, which is harmless).
  std::optional<std::pair<std::uintptr_t, std::uintptr_t>> remove(const void* host);
  // Whether [host, host + bytes) lies inside one resident range.
  [[nodiscard]] bool contains(const void* host, std::size_t bytes) const;
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, std::uintptr_t> ranges_;  // begin -> end
};

template <typename DeviceBuffer>
class ResidentCopies {
 public:
  explicit ResidentCopies(const ResidentRanges& ranges) : ranges_(ranges) {}

  // The device copy of host[0, bytes) viewed as `rows` x `cols` with row stride `ld`: the kept
  // one when the data is resident (made by `upload()`, which returns a DeviceBuffer, the first
  // time), else a fresh one for this call alone. Callers hold the returned pointer while they
  // use the buffer.
  template <typename Upload>
  std::shared_ptr<DeviceBuffer> get(const void* host, std::size_t bytes, int rows, int cols, int ld,
                                    const Upload& upload) {
    if (!ranges_.contains(host, bytes)) return std::make_shared<DeviceBuffer>(upload());
    const Key key{reinterpret_cast<std::uintptr_t>(host), bytes, rows, cols, ld};
    {
      const std::lock_guard lock(mutex_);
      if (const auto found = copies_.find(key); found != copies_.end()) return found->second;
    }
    auto buffer = std::make_shared<DeviceBuffer>(upload());
    const std::lock_guard lock(mutex_);
    const auto [where, inserted] = copies_.try_emplace(key, buffer);
    if (inserted) used_bytes_ += bytes;
    return where->second;  // another thread's copy, if it made one first
  }

  // Drops the copies of data that starts in [begin, end): a released range.
  void drop(std::uintptr_t begin, std::uintptr_t end) {
    const std::lock_guard lock(mutex_);
    for (auto it = copies_.lower_bound(Key{begin, 0, 0, 0, 0});
         it != copies_.end() && std::get<0>(it->first) < end;) {
      used_bytes_ -= std::get<1>(it->first);
      it = copies_.erase(it);
    }
  }

  // Bytes of host data with a kept copy (the copy may be larger or smaller: its layout).
  [[nodiscard]] std::size_t used_bytes() const {
    const std::lock_guard lock(mutex_);
    return used_bytes_;
  }
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return copies_.size();
  }

 private:
  using Key = std::tuple<std::uintptr_t, std::size_t, int, int, int>;
  const ResidentRanges& ranges_;
  mutable std::mutex mutex_;
  std::map<Key, std::shared_ptr<DeviceBuffer>> copies_;
  std::size_t used_bytes_ = 0;
};

}  // namespace amanuensis::backends
