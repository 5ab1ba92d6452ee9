// A Hugging Face transformers Whisper folder (model.safetensors, single or sharded with
// model.safetensors.index.json; config.json; generation_config.json; tokenizer.json) as a
// ModelSource: its tensors renamed to CTranslate2's, the attention projections fused as
// CTranslate2 fuses them.
#pragma once

#include <filesystem>
#include <memory>

#include "model/model_source.h"

namespace amanuensis::model {

std::unique_ptr<ModelSource> open_hf_model(const std::filesystem::path& model_dir);

}  // namespace amanuensis::model
