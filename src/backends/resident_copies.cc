#include "backends/resident_copies.h"

#include <iterator>

namespace amanuensis::backends {

void ResidentRanges::add(const void* host, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(host);
  const std::lock_guard lock(mutex_);
  ranges_[begin] = begin + bytes;
}

std::optional<std::pair<std::uintptr_t, std::uintptr_t>> ResidentRanges::remove(const void* host) {
  const auto begin = reinterpret_cast<std::uintptr_t>(host);
  const std::lock_guard lock(mutex_);
  const auto found = ranges_.find(begin);
  if (found == ranges_.end()) return std::nullopt;
  std::pair<std::uintptr_t, std::uintptr_t> range{found->first, found->second};
  ranges_.erase(found);
  return range;
}

bool ResidentRanges::contains(const void* host, std::size_t bytes) const {
  const auto begin = reinterpret_cast<std::uintptr_t>(host);
  const std::lock_guard lock(mutex_);
  auto after = ranges_.upper_bound(begin);  // the first range starting past `begin`
  if (after == ranges_.begin()) return false;
  const auto& [start, end] = *std::prev(after);
  return begin >= start && begin + bytes <= end;
}

std::size_t ResidentRanges::size() const {
  const std::lock_guard lock(mutex_);
  return ranges_.size();
}

}  // namespace amanuensis::backends
