// A whisper.cpp model file (ggml-*.bin: f32, f16, q8_0, q5_0, q5_1, q4_0 or q4_1 weights, with
// its mel filters and vocabulary) as a ModelSource: tensors renamed to CTranslate2's, the
// attention projections fused, block-quantized weights dequantized to float32.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "model/model_source.h"

namespace amanuensis::model {

// "ggml" read as a little-endian 32-bit word, as whisper.cpp writes it.
inline constexpr std::uint32_t kGgmlMagic = 0x67676d6c;

std::unique_ptr<ModelSource> open_ggml_model(const std::filesystem::path& path);

}  // namespace amanuensis::model
