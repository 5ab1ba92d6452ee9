// Whisper's byte-level BPE vocabulary: token ids to text, and the special tokens, found by their
// text so that English-only and multilingual models (which number them differently) both work.
#pragma once

#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

class ModelSource;

// GPT-2's byte-level spelling of raw bytes: each byte as the code point that stands for it.
std::string byte_level_from_bytes(std::string_view raw);
// The inverse; nullopt when `token` has a code point that stands for no byte.
std::optional<std::string> bytes_from_byte_level(std::string_view token);

// The ids of the special tokens, as the public Tokenizer gives them (amanuensis.h).
using SpecialTokens = amanuensis::Tokenizer::SpecialTokens;

class Tokenizer {
 public:
  // The vocabulary of the model at `path`, in any format (model_source.h).
  static Tokenizer load(const std::filesystem::path& path);
  static Tokenizer from_source(const ModelSource& source);
  explicit Tokenizer(std::vector<std::string> tokens, const std::string& source,
                     std::vector<std::pair<std::string, std::string>> merges = {});

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

  // Token ids of UTF-8 text (no special tokens), by GPT-2's pre-tokenisation and byte-level BPE:
  // with the merges of tokenizer.json, or else ranked by token id as tiktoken does.
  [[nodiscard]] std::vector<int> encode(std::string_view text) const;

  // The bytes of one text token, as they are (a token may hold part of a UTF-8 character);
  // empty for special tokens.
  [[nodiscard]] std::string token_bytes(int token) const;

  // Text of one token as it would print (e.g. " the"), for word timings.
  [[nodiscard]] std::string token_text(int token) const;

  // The BPE merges of a tokenizer made without them, as its token ranks imply (tiktoken's
  // ranking): for each ordinary token of more than one symbol, the two tokens byte-pair encoding
  // with the tokens ranked before it joins to make it. In rank order.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> merges_by_rank() const;

 private:
  int require(std::string_view text, const std::string& source) const;

  // The symbols of `word` after byte-pair encoding with the merges ranked below `rank_limit`.
  [[nodiscard]] std::vector<std::string> byte_pair_merge(
      const std::string& word, int rank_limit = std::numeric_limits<int>::max()) const;
  // The priority of merging two adjacent symbols (lower first); INT_MAX when they do not merge.
  [[nodiscard]] int merge_rank(const std::string& left, const std::string& right) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<std::string, int> merge_ranks_;  // "left right" -> priority
  SpecialTokens special_;
};

}  // namespace amanuensis::model
