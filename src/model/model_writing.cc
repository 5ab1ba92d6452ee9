#include "model/model_writing.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "amanuensis/amanuensis.h"
#include "model/tensor_values.h"
#include "model/tokenizer.h"

namespace amanuensis::model {

PendingOutput::PendingOutput(std::filesystem::path final_path)
    : final_(std::move(final_path)),
      partial_(final_.string() + ".partial-" + std::to_string(::getpid())) {
  std::error_code error;
  std::filesystem::remove_all(partial_, error);
  if (final_.has_parent_path()) std::filesystem::create_directories(final_.parent_path(), error);
}

PendingOutput::~PendingOutput() {
  if (committed_) return;
  std::error_code error;
  std::filesystem::remove_all(partial_, error);
}

void PendingOutput::create_directory() const {
  std::error_code error;
  if (!std::filesystem::create_directories(partial_, error) || error) {
    throw Error(partial_.string() + ": cannot create the folder: " + error.message());
  }
}

void PendingOutput::commit() {
  std::error_code error;
  std::filesystem::rename(partial_, final_, error);
  if (error)
    throw Error(final_.string() + ": cannot move the model into place: " + error.message());
  committed_ = true;
}

BinaryFile::BinaryFile(const std::filesystem::path& path)
    : path_(path), stream_(path, std::ios::binary | std::ios::trunc) {
  if (!stream_) throw Error(path.string() + ": cannot create the file");
}

void BinaryFile::bytes(const void* data, std::size_t size) {
  stream_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!stream_) throw Error(path_.string() + ": write failed (disk full?)");
}

void BinaryFile::close() {
  stream_.close();
  if (!stream_) throw Error(path_.string() + ": write failed (disk full?)");
}

std::span<const float> WidenedTensor::of(const std::string& name) {
  if (name != name_) {
    values_ = to_float(source_, source_.get(name));
    name_ = name;
  }
  return values_;
}

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  BinaryFile file(path);
  file.bytes(text.data(), text.size());
  file.close();
}

std::string tokenizer_json(const Vocabulary& vocabulary) {
  const auto& tokens = vocabulary.tokens;
  int ordinary = 0;
  while (ordinary < static_cast<int>(tokens.size()) &&
         tokens[static_cast<std::size_t>(ordinary)] != "<|endoftext|>") {
    ++ordinary;
  }
  auto vocab = nlohmann::json::object();
  for (int id = 0; id < ordinary; ++id) {
    const auto& token = tokens[static_cast<std::size_t>(id)];
    if (!token.empty()) vocab[token] = id;
  }
  auto added = nlohmann::json::array();
  for (int id = ordinary; id < static_cast<int>(tokens.size()); ++id) {
    added.push_back({{"id", id},
                     {"content", tokens[static_cast<std::size_t>(id)]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const auto merges = vocabulary.merges.empty()
                          ? Tokenizer(tokens, vocabulary.source).merges_by_rank()
                          : vocabulary.merges;
  auto merge_list = nlohmann::json::array();
  for (const auto& [left, right] : merges) {
    std::string merge = left;
    merge.append(" ").append(right);
    merge_list.push_back(std::move(merge));
  }
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", true},
                                     {"use_regex", true}};
  const nlohmann::json json = {{"version", "1.0"},
                               {"truncation", nullptr},
                               {"padding", nullptr},
                               {"added_tokens", added},
                               {"normalizer", nullptr},
                               {"pre_tokenizer", byte_level},
                               {"post_processor", byte_level},
                               {"decoder", byte_level},
                               {"model",
                                {{"type", "BPE"},
                                 {"dropout", nullptr},
                                 {"unk_token", nullptr},
                                 {"continuing_subword_prefix", ""},
                                 {"end_of_word_suffix", ""},
                                 {"fuse_unk", false},
                                 {"byte_fallback", false},
                                 {"vocab", vocab},
                                 {"merges", merge_list}}}};
  return json.dump();
}

}  // namespace amanuensis::model
