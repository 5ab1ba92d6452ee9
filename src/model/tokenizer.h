// Whisper's byte-level BPE vocabulary: token ids to text, and the special tokens, found by their
// text so that English-only and multilingual models (which number them differently) both work.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace amanuensis::model {

struct SpecialTokens {
  int end_of_text = 0;
  int start_of_transcript = 0;
  int translate = 0;
  int transcribe = 0;
  int start_of_lm = 0;
  int start_of_prev = 0;
  int no_speech = 0;
  int no_timestamps = 0;
  int timestamp_begin = 0;  // <|0.00|>; each later id adds 0.02 s
};

class Tokenizer {
 public:
  // Reads vocabulary.json (a JSON list) or vocabulary.txt (one token per line) from the folder.
  static Tokenizer load(const std::filesystem::path& model_dir);
  explicit Tokenizer(std::vector<std::string> tokens, const std::string& source);

  [[nodiscard]] const SpecialTokens& special() const { return special_; }
  [[nodiscard]] int size() const { return static_cast<int>(tokens_.size()); }
  [[nodiscard]] bool is_timestamp(int token) const { return token >= special_.timestamp_begin; }

  // Id of the language token <|code|>, if the vocabulary has it.
  [[nodiscard]] std::optional<int> language_token(std::string_view code) const;
  // "en" for <|en|>.
  [[nodiscard]] std::string language_code(int token) const;

  // UTF-8 text of the text tokens (ids below end-of-text); others are skipped. Byte sequences
  // that are not valid UTF-8 become U+FFFD, as the reference tokenizer does.
  [[nodiscard]] std::string decode(std::span<const int> tokens) const;

 private:
  int require(std::string_view text, const std::string& source) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> ids_;
  SpecialTokens special_;
};

}  // namespace amanuensis::model
