// ggml's tensor element types as whisper.cpp files store them, and the legacy block
// quantizations (q4_0, q4_1, q5_0, q5_1, q8_0: blocks of 32 values with an fp16 scale), rounded
// exactly as ggml's reference quantizers (quantize_row_*_ref in ggml-quants.c) round, so a file
// we quantize matches what whisper.cpp's quantize tool makes from the same values.
//
// Block layouts (little-endian, packed):
//   q4_0 {fp16 d; u8 qs[16]}            value = (nibble - 8) * d
//   q4_1 {fp16 d, m; u8 qs[16]}         value = nibble * d + m
//   q5_0 {fp16 d; u8 qh[4]; u8 qs[16]}  value = (nibble | high bit << 4) - 16) * d
//   q5_1 {fp16 d, m; u8 qh[4]; u8 qs[16]} value = (nibble | high bit << 4) * d + m
//   q8_0 {fp16 d; i8 qs[32]}            value = q * d
// In the 4- and 5-bit types, byte j holds element j in its low nibble and element j + 16 in its
// high one; bit j of qh is element j's fifth bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace amanuensis::model {

// ggml_type numbers, as a whisper.cpp file's tensor headers give them (named as ggml names them).
// NOLINTBEGIN(readability-identifier-naming)
enum class GgmlType : std::uint8_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
};
// NOLINTEND(readability-identifier-naming)

inline constexpr std::size_t kGgmlBlockSize = 32;

// The type with ggml's number `id`, or nullopt for one we do not read.
std::optional<GgmlType> ggml_type_from_id(std::int32_t id);
// The type named "f32", "f16", "q4_0", ... (ggml's names), or nullopt.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);
std::string_view ggml_type_name(GgmlType type);
bool is_block_quantized(GgmlType type);
// Values per block (1 for f32 and f16) and bytes per block.
std::size_t ggml_block_values(GgmlType type);
std::size_t ggml_block_bytes(GgmlType type);

// Quantizes `values` (a multiple of 32 of them) into `out` (values / 32 blocks of `type`).
void quantize_blocks(GgmlType type, std::span<const float> values, std::span<std::byte> out);
// Widens the blocks of `type` in `blocks` into `out` (32 values per block).
void dequantize_blocks(GgmlType type, std::span<const std::byte> blocks, std::span<float> out);
// Blocks as signed 8-bit `levels` (32 per block) and one scale per block, value ~= level * scale:
// exactly the values dequantize_blocks gives for q8_0, q5_0 and q4_0 (their own levels); q5_1
// and q4_1, whose levels carry an offset, are rounded again to 8-bit levels of each block's
// largest magnitude (an error of at most half of max |value| / 127: for a block of weights
// around zero, where max |value| is about 16 of q5_1's steps, an eighth of such a step).
void blocks_to_levels(GgmlType type, std::span<const std::byte> blocks,
                      std::span<std::int8_t> levels, std::span<float> scales);

}  // namespace amanuensis::model
