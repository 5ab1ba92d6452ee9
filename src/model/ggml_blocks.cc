#include "model/ggml_blocks.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "amanuensis/amanuensis.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

namespace {

constexpr std::size_t kHalf = kGgmlBlockSize / 2;

struct TypeInfo {
  GgmlType type;
  std::string_view name;
  std::size_t values;
  std::size_t bytes;
};

constexpr std::array<TypeInfo, 7> kTypes = {{
    {GgmlType::kF32, "f32", 1, 4},
    {GgmlType::kF16, "f16", 1, 2},
    {GgmlType::kQ4_0, "q4_0", kGgmlBlockSize, 2 + kHalf},
    {GgmlType::kQ4_1, "q4_1", kGgmlBlockSize, 4 + kHalf},
    {GgmlType::kQ5_0, "q5_0", kGgmlBlockSize, 2 + 4 + kHalf},
    {GgmlType::kQ5_1, "q5_1", kGgmlBlockSize, 4 + 4 + kHalf},
    {GgmlType::kQ8_0, "q8_0", kGgmlBlockSize, 2 + kGgmlBlockSize},
}};

const TypeInfo& info(GgmlType type) {
  for (const auto& entry : kTypes) {
    if (entry.type == type) return entry;
  }
  throw Error("unknown ggml tensor type " + std::to_string(static_cast<int>(type)));
}

// One block's bytes, written and read little-endian at fixed offsets.
void put_half(std::byte* out, float value) {
  const std::uint16_t half = float_to_half(value);
  std::memcpy(out, &half, 2);
}

float get_half(const std::byte* in) {
  std::uint16_t half = 0;
  std::memcpy(&half, in, 2);
  return half_to_float(half);
}

// The value of largest magnitude, with its sign (the first such one, as ggml picks it).
float signed_absmax(const float* x) {
  float amax = 0.0F;
  float max = 0.0F;
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

std::pair<float, float> min_max(const float* x) {
  float min = FLT_MAX;
  float max = -FLT_MAX;
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  return {min, max};
}

// ggml truncates toward zero into an int8 and clamps above only: the scaled values are >= 0.
std::uint8_t level(float scaled, int top) {
  return static_cast<std::uint8_t>(
      std::min(top, static_cast<int>(static_cast<std::int8_t>(scaled))));
}

// Packs 32 levels (4 or 5 bits) as nibbles, and their fifth bits into `qh` when given.
void pack_levels(const std::array<std::uint8_t, kGgmlBlockSize>& q, std::byte* qs, std::byte* qh) {
  std::uint32_t high = 0;
  for (std::size_t j = 0; j < kHalf; ++j) {
    qs[j] = static_cast<std::byte>((q[j] & 0x0FU) | ((q[j + kHalf] & 0x0FU) << 4U));
    high |= ((q[j] & 0x10U) >> 4U) << j;
    high |= ((q[j + kHalf] & 0x10U) >> 4U) << (j + kHalf);
  }
  if (qh != nullptr) std::memcpy(qh, &high, 4);
}

std::array<std::uint8_t, kGgmlBlockSize> unpack_levels(const std::byte* qs, const std::byte* qh) {
  std::uint32_t high = 0;
  if (qh != nullptr) std::memcpy(&high, qh, 4);
  std::array<std::uint8_t, kGgmlBlockSize> q{};
  for (std::size_t j = 0; j < kHalf; ++j) {
    const auto byte = std::to_integer<std::uint32_t>(qs[j]);
    q[j] = static_cast<std::uint8_t>((byte & 0x0FU) | (((high >> j) & 1U) << 4U));
    q[j + kHalf] = static_cast<std::uint8_t>((byte >> 4U) | (((high >> (j + kHalf)) & 1U) << 4U));
  }
  return q;
}

// q4_0 and q5_0: symmetric, d = max / -levels/2, offset levels/2.
void quantize_symmetric(const float* x, std::byte* out, int bits) {
  const auto half_range = static_cast<float>(1 << (bits - 1));
  const float d = signed_absmax(x) / -half_range;
  const float id = d != 0.0F ? 1.0F / d : 0.0F;
  put_half(out, d);
  std::array<std::uint8_t, kGgmlBlockSize> q{};
  const float offset = half_range + 0.5F;  // 8.5 or 16.5, exact
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    const float scaled = x[j] * id;  // rounded on its own, as ggml does
    q[j] = level(scaled + offset, (1 << bits) - 1);
  }
  if (bits == 5) {
    pack_levels(q, out + 6, out + 2);
  } else {
    pack_levels(q, out + 2, nullptr);
  }
}

// q4_1 and q5_1: d = (max - min) / (levels - 1), m = min.
void quantize_affine(const float* x, std::byte* out, int bits) {
  const auto [min, max] = min_max(x);
  const float d = (max - min) / static_cast<float>((1 << bits) - 1);
  const float id = d != 0.0F ? 1.0F / d : 0.0F;
  put_half(out, d);
  put_half(out + 2, min);
  std::array<std::uint8_t, kGgmlBlockSize> q{};
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    const float scaled = (x[j] - min) * id;
    // (q5_1's reference does not clamp: its scaled values stay within [0, 31] anyway.)
    q[j] = level(scaled + 0.5F, (1 << bits) - 1);
  }
  if (bits == 5) {
    pack_levels(q, out + 8, out + 4);
  } else {
    pack_levels(q, out + 4, nullptr);
  }
}

void quantize_q8_0(const float* x, std::byte* out) {
  float amax = 0.0F;
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0F;
  const float id = d != 0.0F ? 1.0F / d : 0.0F;
  put_half(out, d);
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    const float scaled = x[j] * id;
    out[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(std::roundf(scaled)));
  }
}

void quantize_block(GgmlType type, const float* x, std::byte* out) {
  switch (type) {
    case GgmlType::kQ4_0:
      return quantize_symmetric(x, out, 4);
    case GgmlType::kQ5_0:
      return quantize_symmetric(x, out, 5);
    case GgmlType::kQ4_1:
      return quantize_affine(x, out, 4);
    case GgmlType::kQ5_1:
      return quantize_affine(x, out, 5);
    case GgmlType::kQ8_0:
      return quantize_q8_0(x, out);
    default:
      throw Error("ggml type " + std::string(ggml_type_name(type)) + " is not block quantized");
  }
}

bool is_affine(GgmlType type) { return type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1; }
bool is_five_bit(GgmlType type) { return type == GgmlType::kQ5_0 || type == GgmlType::kQ5_1; }

// A symmetric block's signed levels (value = q[j] * d); returns d.
float signed_levels(GgmlType type, const std::byte* in, std::int8_t* q) {
  if (type == GgmlType::kQ8_0) {
    for (std::size_t j = 0; j < kGgmlBlockSize; ++j) q[j] = static_cast<std::int8_t>(in[2 + j]);
  } else {
    const bool five = is_five_bit(type);
    const auto levels = five ? unpack_levels(in + 6, in + 2) : unpack_levels(in + 2, nullptr);
    const int offset = five ? 16 : 8;
    for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
      q[j] = static_cast<std::int8_t>(static_cast<int>(levels[j]) - offset);
    }
  }
  return get_half(in);
}

void dequantize_block(GgmlType type, const std::byte* in, float* y) {
  if (!is_affine(type)) {
    std::array<std::int8_t, kGgmlBlockSize> q{};
    const float d = signed_levels(type, in, q.data());
    for (std::size_t j = 0; j < kGgmlBlockSize; ++j) y[j] = static_cast<float>(q[j]) * d;
    return;
  }
  const float d = get_half(in);
  const float m = get_half(in + 2);
  const auto q = is_five_bit(type) ? unpack_levels(in + 8, in + 4) : unpack_levels(in + 4, nullptr);
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) y[j] = static_cast<float>(q[j]) * d + m;
}

void check_sizes(GgmlType type, std::size_t n_values, std::size_t n_bytes) {
  if (!is_block_quantized(type) || n_values % kGgmlBlockSize != 0 ||
      n_bytes != n_values / kGgmlBlockSize * ggml_block_bytes(type)) {
    throw Error("ggml " + std::string(ggml_type_name(type)) +
                " blocks: " + std::to_string(n_values) + " values do not fill " +
                std::to_string(n_bytes) + " bytes of whole blocks");
  }
}

}  // namespace

std::optional<GgmlType> ggml_type_from_id(std::int32_t id) {
  for (const auto& entry : kTypes) {
    if (static_cast<std::int32_t>(entry.type) == id) return entry.type;
  }
  return std::nullopt;
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (const auto& entry : kTypes) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

std::string_view ggml_type_name(GgmlType type) { return info(type).name; }
bool is_block_quantized(GgmlType type) { return info(type).values == kGgmlBlockSize; }
std::size_t ggml_block_values(GgmlType type) { return info(type).values; }
std::size_t ggml_block_bytes(GgmlType type) { return info(type).bytes; }

void quantize_blocks(GgmlType type, std::span<const float> values, std::span<std::byte> out) {
  check_sizes(type, values.size(), out.size());
  const std::size_t block_bytes = ggml_block_bytes(type);
  for (std::size_t b = 0; b < values.size() / kGgmlBlockSize; ++b) {
    quantize_block(type, values.data() + b * kGgmlBlockSize, out.data() + b * block_bytes);
  }
}

void dequantize_blocks(GgmlType type, std::span<const std::byte> blocks, std::span<float> out) {
  check_sizes(type, out.size(), blocks.size());
  const std::size_t block_bytes = ggml_block_bytes(type);
  for (std::size_t b = 0; b < out.size() / kGgmlBlockSize; ++b) {
    dequantize_block(type, blocks.data() + b * block_bytes, out.data() + b * kGgmlBlockSize);
  }
}

namespace {

// An affine block's values rounded to signed levels of their own: scale = max |value| / 127.
float rounded_levels(GgmlType type, const std::byte* in, std::int8_t* q) {
  std::array<float, kGgmlBlockSize> values{};
  dequantize_block(type, in, values.data());
  float max_value = 0.0F;
  for (const float v : values) max_value = std::max(max_value, std::fabs(v));
  const float scale = max_value / 127.0F;
  const float inverse = max_value > 0.0F ? 127.0F / max_value : 0.0F;
  for (std::size_t j = 0; j < kGgmlBlockSize; ++j) {
    q[j] =
        static_cast<std::int8_t>(std::clamp(std::nearbyint(values[j] * inverse), -127.0F, 127.0F));
  }
  return scale;
}

}  // namespace

void blocks_to_levels(GgmlType type, std::span<const std::byte> blocks,
                      std::span<std::int8_t> levels, std::span<float> scales) {
  check_sizes(type, levels.size(), blocks.size());
  if (scales.size() != levels.size() / kGgmlBlockSize) {
    throw Error("ggml blocks: " + std::to_string(scales.size()) + " scales for " +
                std::to_string(levels.size()) + " levels");
  }
  const std::size_t block_bytes = ggml_block_bytes(type);
  for (std::size_t b = 0; b < scales.size(); ++b) {
    const std::byte* in = blocks.data() + b * block_bytes;
    std::int8_t* q = levels.data() + b * kGgmlBlockSize;
    scales[b] = is_affine(type) ? rounded_levels(type, in, q) : signed_levels(type, in, q);
  }
}

}  // namespace amanuensis::model
