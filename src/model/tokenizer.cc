#include "model/tokenizer.h"

#include <array>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

namespace {

// GPT-2's byte-level BPE spells each byte as a printable code point: printable Latin-1 bytes
// stand for themselves and the rest are shifted to U+0100 and up. This is the inverse map.
const std::unordered_map<char32_t, unsigned char>& code_point_to_byte() {
  static const auto table = [] {
    std::unordered_map<char32_t, unsigned char> map;
    char32_t next_shifted = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      map.emplace(printable ? static_cast<char32_t>(b) : next_shifted++, static_cast<unsigned char>(b));
    }
    return map;
  }();
  return table;
}

// Decodes one UTF-8 code point starting at text[i]; advances i. Vocabulary strings are valid UTF-8.
char32_t next_code_point(const std::string& text, std::size_t& i) {
  const auto lead = static_cast<unsigned char>(text[i++]);
  int extra = 0;
  char32_t cp = lead;
  if (lead >= 0xF0) {
    extra = 3;
    cp = lead & 0x07U;
  } else if (lead >= 0xE0) {
    extra = 2;
    cp = lead & 0x0FU;
  } else if (lead >= 0xC0) {
    extra = 1;
    cp = lead & 0x1FU;
  }
  for (int k = 0; k < extra && i < text.size(); ++k) {
    cp = (cp << 6U) | (static_cast<unsigned char>(text[i++]) & 0x3FU);
  }
  return cp;
}

// Replaces every invalid UTF-8 sequence with U+FFFD, one per maximal invalid prefix, as Rust's
// String::from_utf8_lossy (used by the reference tokenizer) does.
std::string valid_utf8(const std::string& bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    int length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead < 0x80) {
      out += bytes[i++];
      continue;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    }
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    for (int k = 1; k < length; ++k, ++j) {
      if (j >= bytes.size()) break;
      const auto c = static_cast<unsigned char>(bytes[j]);
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xBF;
      if (c < lo || c > hi) break;
    }
    if (j - i == static_cast<std::size_t>(length)) {
      out.append(bytes, i, length);
    } else {
      out += kReplacement;
    }
    i = j;
  }
  return out;
}

std::vector<std::string> read_vocabulary(const std::filesystem::path& model_dir, std::string& source) {
  const auto json_path = model_dir / "vocabulary.json";
  const auto text_path = model_dir / "vocabulary.txt";
  std::vector<std::string> tokens;
  if (std::filesystem::exists(json_path)) {
    source = json_path.string();
    std::ifstream stream(json_path);
    try {
      tokens = nlohmann::json::parse(stream).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(source + ": not a JSON list of tokens: " + e.what());
    }
  } else if (std::filesystem::exists(text_path)) {
    source = text_path.string();
    std::ifstream stream(text_path);
    for (std::string line; std::getline(stream, line);) tokens.push_back(line);
  } else {
    throw Error(model_dir.string() + ": vocabulary not found (expected vocabulary.json or vocabulary.txt)");
  }
  return tokens;
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& model_dir) {
  std::string source;
  auto tokens = read_vocabulary(model_dir, source);
  return Tokenizer(std::move(tokens), source);
}

Tokenizer::Tokenizer(std::vector<std::string> tokens, const std::string& source)
    : tokens_(std::move(tokens)) {
  for (int i = 0; i < static_cast<int>(tokens_.size()); ++i) ids_.emplace(tokens_[i], i);
  special_.end_of_text = require("<|endoftext|>", source);
  special_.start_of_transcript = require("<|startoftranscript|>", source);
  special_.translate = require("<|translate|>", source);
  special_.transcribe = require("<|transcribe|>", source);
  special_.start_of_lm = require("<|startoflm|>", source);
  special_.start_of_prev = require("<|startofprev|>", source);
  // Older English-only vocabularies call the no-speech token <|nocaptions|>.
  const auto no_speech = ids_.find("<|nospeech|>");
  special_.no_speech = no_speech != ids_.end() ? no_speech->second : require("<|nocaptions|>", source);
  special_.no_timestamps = require("<|notimestamps|>", source);
  // Timestamps follow <|notimestamps|>; some vocabularies do not spell them out.
  special_.timestamp_begin = special_.no_timestamps + 1;
}

int Tokenizer::require(std::string_view text, const std::string& source) const {
  const auto found = ids_.find(std::string(text));
  if (found == ids_.end()) {
    throw Error(source + ": the vocabulary has no " + std::string(text) + " token; not a Whisper vocabulary");
  }
  return found->second;
}

std::optional<int> Tokenizer::language_token(std::string_view code) const {
  const auto found = ids_.find("<|" + std::string(code) + "|>");
  if (found == ids_.end() || found->second <= special_.start_of_transcript ||
      found->second >= special_.translate) {
    return std::nullopt;
  }
  return found->second;
}

std::string Tokenizer::language_code(int token) const {
  const auto& text = tokens_.at(static_cast<std::size_t>(token));
  return text.substr(2, text.size() - 4);
}

std::string Tokenizer::decode(std::span<const int> tokens) const {
  const auto& to_byte = code_point_to_byte();
  std::string bytes;
  for (const int token : tokens) {
    if (token < 0 || token >= special_.end_of_text || token >= size()) continue;
    const auto& text = tokens_[static_cast<std::size_t>(token)];
    for (std::size_t i = 0; i < text.size();) {
      const auto found = to_byte.find(next_code_point(text, i));
      if (found != to_byte.end()) bytes += static_cast<char>(found->second);
    }
  }
  return valid_utf8(bytes);
}

}  // namespace amanuensis::model
