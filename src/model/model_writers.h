// Writing a model, read through any ModelSource, in each format we read: what
// `amanuensis convert` does. Every writer writes to a temporary name and renames it into place,
// so a failed conversion leaves no partial model behind.
#pragma once

#include <filesystem>
#include <string_view>

#include "model/model_source.h"

namespace amanuensis::model {

// A CTranslate2 folder (model.bin, config.json, vocabulary.json, tokenizer.json) with the dense
// weights in `type`: "float32", "float16", "bfloat16" or "int8" (per-row scales, as
// CTranslate2 quantizes).
void write_ct2_model(const ModelSource& source, const std::filesystem::path& dir,
                     std::string_view type);

// A Hugging Face folder (model.safetensors, config.json, generation_config.json,
// tokenizer.json, preprocessor_config.json) in `type`: "float32", "float16" or "bfloat16".
void write_hf_model(const ModelSource& source, const std::filesystem::path& dir,
                    std::string_view type);

// A whisper.cpp file, laid out as whisper.cpp's convert-pt-to-ggml.py writes it, with the
// weight matrices in `type`: "f32", "f16", "q8_0", "q5_0", "q5_1", "q4_0" or "q4_1" (block
// quantized as ggml's reference quantizers do; the convolutions stay f16, and the rest f32).
void write_ggml_model(const ModelSource& source, const std::filesystem::path& file,
                      std::string_view type);

}  // namespace amanuensis::model
