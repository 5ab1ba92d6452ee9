// The files a vocabulary comes in: CTranslate2's vocabulary.json or vocabulary.txt, and Hugging
// Face's tokenizer.json (tokens, added special tokens and BPE merges).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "model/model_source.h"

namespace amanuensis::model {

// vocabulary.json (a JSON list of tokens) or vocabulary.txt (a token per line) in `model_dir`;
// empty tokens when neither is there.
Vocabulary read_ct2_vocabulary(const std::filesystem::path& model_dir);

// The BPE merges of a tokenizer.json, in priority order; none when the file is absent.
std::vector<std::pair<std::string, std::string>> read_merges(const std::filesystem::path& path);

// A tokenizer.json's tokens by id (its model's vocabulary and its added tokens), and merges.
// Ids without a token are empty strings. Throws amanuensis::Error naming the file.
Vocabulary read_tokenizer_json(const std::filesystem::path& path);

// Whisper's timestamp tokens "<|0.00|>" to "<|30.00|>" appended until `tokens` has `size`
// entries, as CTranslate2's converter completes a vocabulary that does not spell them out.
void complete_with_timestamps(std::vector<std::string>& tokens, std::size_t size);

}  // namespace amanuensis::model
