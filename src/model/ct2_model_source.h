// The CTranslate2 model folder (model.bin, config.json, vocabulary.json or .txt, tokenizer.json)
// as a ModelSource.
#pragma once

#include <filesystem>
#include <memory>

#include "model/model_source.h"

namespace amanuensis::model {

std::unique_ptr<ModelSource> open_ct2_model(const std::filesystem::path& model_dir);

// Reads a CTranslate2 Whisper config.json (suppress_ids, suppress_ids_begin, lang_ids,
// alignment_heads). Throws amanuensis::Error naming the file.
WhisperConfig read_ct2_config(const std::filesystem::path& path);

}  // namespace amanuensis::model
