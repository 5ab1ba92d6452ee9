#include "backends/weight_cache.h"

#include <cstring>

namespace amanuensis::backends {

std::uint64_t fingerprint(const void* data, std::size_t bytes) {
  constexpr std::uint64_t kPrime = 0x100000001b3ULL;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto mix = [&](std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (value >> (8 * i)) & 0xff;
      hash *= kPrime;
    }
  };
  mix(bytes);
  const auto* bytes_of = static_cast<const unsigned char*>(data);
  const std::size_t words = bytes / 4;
  if (words == 0) {
    for (std::size_t i = 0; i < bytes; ++i) mix(bytes_of[i]);
    return hash;
  }
  constexpr std::size_t kSamples = 64;
  const std::size_t step = words > kSamples ? words / kSamples : 1;
  for (std::size_t w = 0; w < words; w += step) {
    std::uint32_t word = 0;
    std::memcpy(&word, bytes_of + 4 * w, 4);
    mix(word);
  }
  std::uint32_t last = 0;
  std::memcpy(&last, bytes_of + 4 * (words - 1), 4);
  mix(last);
  return hash;
}

}  // namespace amanuensis::backends
