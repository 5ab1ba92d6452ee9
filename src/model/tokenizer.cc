#include "model/tokenizer.h"

#include <array>
#include <cctype>
#include <limits>
#include <sstream>

#include "amanuensis/amanuensis.h"
#include "model/model_source.h"

namespace amanuensis::model {

namespace {

// GPT-2's byte-level BPE spells each byte as a printable code point: printable Latin-1 bytes
// stand for themselves and the rest are shifted to U+0100 and up. This is the inverse map.
char32_t byte_to_code_point(unsigned char b) {
  static const auto table = [] {
    std::array<char32_t, 256> map{};
    char32_t next_shifted = 256;
    for (int c = 0; c < 256; ++c) {
      const bool printable =
          (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
      map[c] = printable ? static_cast<char32_t>(c) : next_shifted++;
    }
    return map;
  }();
  return table[b];
}

const std::unordered_map<char32_t, unsigned char>& code_point_to_byte() {
  static const auto table = [] {
    std::unordered_map<char32_t, unsigned char> map;
    for (int b = 0; b < 256; ++b)
      map.emplace(byte_to_code_point(static_cast<unsigned char>(b)), static_cast<unsigned char>(b));
    return map;
  }();
  return table;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6U));
    out += static_cast<char>(0x80 | (cp & 0x3FU));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12U));
    out += static_cast<char>(0x80 | ((cp >> 6U) & 0x3FU));
    out += static_cast<char>(0x80 | (cp & 0x3FU));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18U));
    out += static_cast<char>(0x80 | ((cp >> 12U) & 0x3FU));
    out += static_cast<char>(0x80 | ((cp >> 6U) & 0x3FU));
    out += static_cast<char>(0x80 | (cp & 0x3FU));
  }
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

enum class CharClass { kLetter, kNumber, kSpace, kOther };

// Unicode classes as GPT-2's pre-tokeniser regex uses them, without a full Unicode table:
// ASCII exactly; beyond it, the punctuation and space blocks, and everything else a letter.
CharClass classify(char32_t cp) {
  if (cp < 0x80) {
    if (std::isalpha(static_cast<int>(cp)) != 0) return CharClass::kLetter;
    if (std::isdigit(static_cast<int>(cp)) != 0) return CharClass::kNumber;
    if (std::isspace(static_cast<int>(cp)) != 0) return CharClass::kSpace;
    return CharClass::kOther;
  }
  if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
      cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000) {
    return CharClass::kSpace;
  }
  if ((cp >= 0xA1 && cp <= 0xBF && cp != 0xAA && cp != 0xB5 && cp != 0xBA) || cp == 0xD7 ||
      cp == 0xF7 || (cp >= 0x2010 && cp <= 0x206F) || (cp >= 0x3001 && cp <= 0x303F) ||
      (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20)) {
    return CharClass::kOther;
  }
  if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0x0660 && cp <= 0x0669)) return CharClass::kNumber;
  return CharClass::kLetter;
}

// Splits text as GPT-2's regex does:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<std::string> pre_tokenize(std::string_view text) {
  std::vector<char32_t> cps;
  const std::string owned(text);
  for (std::size_t i = 0; i < owned.size();) cps.push_back(next_code_point(owned, i));
  std::vector<std::string> pieces;
  std::size_t i = 0;
  const auto emit = [&](std::size_t from, std::size_t to) {
    std::string piece;
    for (std::size_t k = from; k < to; ++k) append_utf8(piece, cps[k]);
    pieces.push_back(std::move(piece));
  };
  const auto run_of = [&](std::size_t from, CharClass c) {
    while (from < cps.size() && classify(cps[from]) == c) ++from;
    return from;
  };
  while (i < cps.size()) {
    if (cps[i] == '\'' && i + 1 < cps.size()) {
      static constexpr std::array<std::u32string_view, 7> kContractions = {
          U"s", U"t", U"re", U"ve", U"m", U"ll", U"d"};
      bool matched = false;
      for (const auto suffix : kContractions) {
        if (i + 1 + suffix.size() <= cps.size() &&
            std::equal(suffix.begin(), suffix.end(),
                       cps.begin() + static_cast<std::ptrdiff_t>(i + 1))) {
          emit(i, i + 1 + suffix.size());
          i += 1 + suffix.size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    const std::size_t start = i;
    const std::size_t body =
        (cps[i] == ' ' && i + 1 < cps.size() && classify(cps[i + 1]) != CharClass::kSpace) ? i + 1
                                                                                           : i;
    const CharClass c = classify(cps[body]);
    if (c == CharClass::kLetter || c == CharClass::kNumber) {
      i = run_of(body, c);
    } else if (c == CharClass::kOther) {
      i = body;
      while (i < cps.size() && classify(cps[i]) == CharClass::kOther) ++i;
    } else {
      // Whitespace: leave the last space to prefix the next word, unless the text ends here.
      const std::size_t end = run_of(i, CharClass::kSpace);
      i = (end < cps.size() && end - start > 1) ? end - 1 : end;
    }
    emit(start, i);
  }
  return pieces;
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  return from_source(*open_model_source(path));
}

Tokenizer Tokenizer::from_source(const ModelSource& source) {
  auto vocabulary = source.vocabulary();
  return Tokenizer(std::move(vocabulary.tokens), vocabulary.source, std::move(vocabulary.merges));
}

Tokenizer::Tokenizer(std::vector<std::string> tokens, const std::string& source,
                     std::vector<std::pair<std::string, std::string>> merges)
    : tokens_(std::move(tokens)) {
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    merge_ranks_.emplace(merges[rank].first + " " + merges[rank].second, static_cast<int>(rank));
  }
  for (int i = 0; i < static_cast<int>(tokens_.size()); ++i) ids_.emplace(tokens_[i], i);
  special_.end_of_text = require("<|endoftext|>", source);
  special_.start_of_transcript = require("<|startoftranscript|>", source);
  special_.translate = require("<|translate|>", source);
  special_.transcribe = require("<|transcribe|>", source);
  special_.start_of_lm = require("<|startoflm|>", source);
  special_.start_of_prev = require("<|startofprev|>", source);
  // Older English-only vocabularies call the no-speech token <|nocaptions|>.
  const auto no_speech = ids_.find("<|nospeech|>");
  special_.no_speech =
      no_speech != ids_.end() ? no_speech->second : require("<|nocaptions|>", source);
  special_.no_timestamps = require("<|notimestamps|>", source);
  // Timestamps follow <|notimestamps|>; some vocabularies do not spell them out.
  special_.timestamp_begin = special_.no_timestamps + 1;
}

int Tokenizer::require(std::string_view text, const std::string& source) const {
  const auto found = ids_.find(std::string(text));
  if (found == ids_.end()) {
    throw Error(source + ": the vocabulary has no " + std::string(text) +
                " token; not a Whisper vocabulary");
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
  std::string bytes;
  for (const int token : tokens) bytes += token_bytes(token);
  return valid_utf8(bytes);
}

std::string Tokenizer::token_bytes(int token) const {
  if (token < 0 || token >= special_.end_of_text || token >= size()) return {};
  const auto& to_byte = code_point_to_byte();
  const auto& text = tokens_[static_cast<std::size_t>(token)];
  std::string bytes;
  for (std::size_t i = 0; i < text.size();) {
    const auto found = to_byte.find(next_code_point(text, i));
    if (found != to_byte.end()) bytes += static_cast<char>(found->second);
  }
  return bytes;
}

std::string Tokenizer::token_text(int token) const {
  const int one[] = {token};
  return decode(one);
}

std::vector<std::string> Tokenizer::byte_pair_merge(const std::string& word, int rank_limit) const {
  std::vector<std::string> symbols;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t start = i;
    next_code_point(word, i);
    symbols.push_back(word.substr(start, i - start));
  }
  // Repeatedly merge the adjacent pair with the best (lowest) rank.
  while (symbols.size() > 1) {
    int best_rank = std::numeric_limits<int>::max();
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const int rank = merge_rank(symbols[i], symbols[i + 1]);
      if (rank < best_rank && rank < rank_limit) {
        best_rank = rank;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int>::max()) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  return symbols;
}

int Tokenizer::merge_rank(const std::string& left, const std::string& right) const {
  if (merge_ranks_.empty()) {
    // tiktoken's ranking: the pair that makes the lowest-numbered ordinary token merges first.
    const auto found = ids_.find(left + right);
    return found != ids_.end() && found->second < special_.end_of_text
               ? found->second
               : std::numeric_limits<int>::max();
  }
  const auto found = merge_ranks_.find(left + " " + right);
  return found != merge_ranks_.end() ? found->second : std::numeric_limits<int>::max();
}

std::vector<std::pair<std::string, std::string>> Tokenizer::merges_by_rank() const {
  std::vector<std::pair<std::string, std::string>> merges;
  for (int id = 0; id < special_.end_of_text && id < size(); ++id) {
    auto symbols = byte_pair_merge(tokens_[static_cast<std::size_t>(id)], id);
    if (symbols.size() == 2) merges.emplace_back(std::move(symbols[0]), std::move(symbols[1]));
  }
  return merges;
}

std::string byte_level_from_bytes(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (const char c : raw) append_utf8(out, byte_to_code_point(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> bytes_from_byte_level(std::string_view token) {
  const auto& to_byte = code_point_to_byte();
  const std::string text(token);
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto found = to_byte.find(next_code_point(text, i));
    if (found == to_byte.end()) return std::nullopt;
    out += static_cast<char>(found->second);
  }
  return out;
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  for (const auto& piece : pre_tokenize(text)) {
    std::string word;  // the piece's bytes, spelled in byte-level code points
    for (const char c : piece) append_utf8(word, byte_to_code_point(static_cast<unsigned char>(c)));
    for (const auto& symbol : byte_pair_merge(word)) {
      const auto found = ids_.find(symbol);
      if (found == ids_.end()) throw Error("cannot encode text: no token for '" + symbol + "'");
      ids.push_back(found->second);
    }
  }
  return ids;
}

}  // namespace amanuensis::model
