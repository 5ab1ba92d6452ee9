// What the model writers share: little-endian output, an output that appears only when it is
// complete, and the tensors of a source in the writers' order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_source.h"

namespace amanuensis::model {

// Writes to `<final>.partial-<pid>`; commit() renames it to the final path. Destroyed without
// commit(), it removes what it wrote.
class PendingOutput {
 public:
  explicit PendingOutput(std::filesystem::path final_path);
  ~PendingOutput();
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;

  // The path to write to now (a folder for create_directory(), or a file).
  [[nodiscard]] const std::filesystem::path& path() const { return partial_; }
  void create_directory() const;
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path partial_;
  bool committed_ = false;
};

// A binary file written little-endian; every failure is an error naming the file.
class BinaryFile {
 public:
  explicit BinaryFile(const std::filesystem::path& path);
  void bytes(const void* data, std::size_t size);
  template <typename T>
  void value(T v) {
    bytes(&v, sizeof v);
  }
  void close();

 private:
  std::filesystem::path path_;
  std::ofstream stream_;
};

// A source's tensors widened to float32 one at a time, the last one kept: writers cut a fused
// tensor (the attention projections) into consecutive pieces and widen it once.
class WidenedTensor {
 public:
  explicit WidenedTensor(const ModelSource& source) : source_(source) {}
  std::span<const float> of(const std::string& name);

 private:
  const ModelSource& source_;
  std::string name_;
  std::vector<float> values_;
};

// Writes `text` to `path`; an error naming the file if it cannot.
void write_text_file(const std::filesystem::path& path, std::string_view text);

// A tokenizer.json (Hugging Face tokenizers, byte-level BPE) for a Whisper vocabulary: the
// tokens before <|endoftext|> in the model, the rest as added special tokens; without merges,
// those its token ranks imply (Tokenizer::merges_by_rank).
std::string tokenizer_json(const Vocabulary& vocabulary);

}  // namespace amanuensis::model
