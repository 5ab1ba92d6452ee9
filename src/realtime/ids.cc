#include "realtime/ids.h"

#include <cstdint>
#include <random>

namespace amanuensis::realtime {

std::string random_id(std::string_view prefix) {
  static constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // One generator per thread: no lock, and seeded from the system's entropy once.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, kChars.size() - 1);
  std::string id(prefix);
  for (int i = 0; i < 20; ++i) id += kChars[pick(generator)];
  return id;
}

}  // namespace amanuensis::realtime
