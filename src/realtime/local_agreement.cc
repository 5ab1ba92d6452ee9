#include "realtime/local_agreement.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <utility>

namespace amanuensis::realtime {

namespace {

// Length of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes, so that
// broken text still advances).
std::size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

std::uint32_t code_point(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(s[i]) & 0x3FU; };
  const auto lead = static_cast<unsigned char>(s[0]);
  if (s.size() == 2) return (lead & 0x1FU) << 6 | b(1);
  if (s.size() == 3) return (lead & 0x0FU) << 12 | b(1) << 6 | b(2);
  if (s.size() == 4) return (lead & 0x07U) << 18 | b(1) << 12 | b(2) << 6 | b(3);
  return lead;
}

// Scripts written without spaces between words, where each character stands alone.
bool stands_alone(std::uint32_t c) {
  return (c >= 0x0E00 && c <= 0x0E7F) ||  // Thai
         (c >= 0x2E80 && c <= 0x9FFF) ||  // CJK radicals, kana, CJK ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||  // CJK compatibility ideographs
         (c >= 0x20000 && c <= 0x2FFFF);  // CJK extensions
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::vector<HypothesisWord> split_words(std::string_view text) {
  std::vector<HypothesisWord> words;
  std::string current;
  bool has_content = false;  // `current` holds more than leading spaces
  const auto flush = [&] {
    if (has_content) words.push_back({std::move(current), std::nullopt});
    current.clear();
    has_content = false;
  };
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n =
        std::min(utf8_length(static_cast<unsigned char>(text[i])), text.size() - i);
    const std::string_view ch = text.substr(i, n);
    i += n;
    if (n == 1 && is_space(ch[0])) {
      if (has_content) flush();
      current += ch;
    } else if (stands_alone(code_point(ch))) {
      if (has_content) flush();
      current += ch;
      has_content = true;
      flush();
    } else {
      current += ch;
      has_content = true;
    }
  }
  flush();  // trailing spaces alone are dropped
  return words;
}

std::string comparable(std::string_view word) {
  std::string out;
  for (const char c : word) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      out += c;  // non-ASCII kept as is (letters of other scripts)
    } else if (std::isalnum(u) != 0) {
      out += static_cast<char>(std::tolower(u));
    }
  }
  return out;
}

std::vector<HypothesisWord> LocalAgreement::update(std::vector<HypothesisWord> hypothesis) {
  // The words both hypotheses agree on from the start; what lies beyond the confirmed words is
  // new. Counting from the start (not from the confirmed words' text) lets confirmation go on
  // when the decoder respells an already confirmed word, which stays as it was sent.
  std::size_t agreed = 0;
  while (agreed < hypothesis.size() && agreed < previous_.size() &&
         comparable(hypothesis[agreed].text) == comparable(previous_[agreed].text)) {
    ++agreed;
  }
  std::vector<HypothesisWord> newly;
  for (std::size_t i = confirmed_.size(); i < agreed; ++i) {
    newly.push_back(hypothesis[i]);
    confirmed_.push_back(hypothesis[i]);
  }
  previous_ = std::move(hypothesis);
  return newly;
}

std::vector<HypothesisWord> LocalAgreement::tail(
    const std::vector<HypothesisWord>& final_hypothesis) const {
  if (final_hypothesis.size() <= confirmed_.size()) return {};
  return {final_hypothesis.begin() + static_cast<std::ptrdiff_t>(confirmed_.size()),
          final_hypothesis.end()};
}

void LocalAgreement::reset() {
  confirmed_.clear();
  previous_.clear();
}

}  // namespace amanuensis::realtime
