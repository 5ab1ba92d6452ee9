#include "decoding/keyword_bias.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace amanuensis {

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<Keyword> parse_keywords(std::string_view text) {
  std::vector<Keyword> keywords;
  if (trimmed(text).empty()) return keywords;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view entry = trimmed(text.substr(0, comma));
    Keyword keyword{std::string(entry), 1.0F};
    const auto colon = entry.rfind(':');
    if (colon != std::string_view::npos) {
      const std::string_view weight = trimmed(entry.substr(colon + 1));
      float value = 0.0F;
      const auto [end, error] = std::from_chars(weight.data(), weight.data() + weight.size(), value);
      if (weight.empty() || error != std::errc{} || end != weight.data() + weight.size() ||
          !std::isfinite(value) || value <= 0.0F || value > 10.0F) {
        throw Error("keywords: '" + std::string(entry) +
                    "' has a weight that is not a number above 0 and at most 10");
      }
      keyword = {std::string(trimmed(entry.substr(0, colon))), value};
    }
    if (keyword.text.empty()) {
      throw Error("keywords: an empty keyword in '" + std::string(trimmed(text)) + "'");
    }
    keywords.push_back(std::move(keyword));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return keywords;
}

}  // namespace amanuensis

namespace amanuensis::decoding {

namespace {

// The spellings a keyword may take in a transcript: as given and with its first letter
// capitalised (ASCII letters only), each with and without a leading space; each once.
std::vector<std::string> spellings(const std::string& text) {
  std::vector<std::string> out;
  std::string capitalised = text;
  if (!capitalised.empty() && capitalised[0] >= 'a' && capitalised[0] <= 'z')
    capitalised[0] = static_cast<char>(capitalised[0] - 'a' + 'A');
  for (const std::string& form : {text, capitalised}) {
    for (std::string s : {form, " " + form}) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace

KeywordTrie::KeywordTrie(const model::Tokenizer& tokenizer, std::span<const Keyword> keywords) {
  for (const auto& keyword : keywords) {
    for (const auto& spelling : spellings(keyword.text)) {
      add(tokenizer.encode(spelling), keyword.weight);
    }
  }
}

void KeywordTrie::add(std::span<const int> tokens, float weight) {
  if (tokens.empty()) return;
  int node = 0;
  for (const int token : tokens) {
    auto& children = nodes_[static_cast<std::size_t>(node)].children;
    const auto it = std::lower_bound(children.begin(), children.end(), std::pair{token, 0});
    int next = 0;
    if (it != children.end() && it->first == token) {
      next = it->second;
    } else {
      next = static_cast<int>(nodes_.size());
      children.insert(it, {token, next});
      nodes_.emplace_back();
    }
    auto& reached = nodes_[static_cast<std::size_t>(next)];
    reached.bonus = std::max(reached.bonus, kKeywordBonus * weight);
    node = next;
  }
  nodes_[static_cast<std::size_t>(node)].complete = true;
}

int KeywordTrie::child(int node, int token) const {
  const auto& children = nodes_[static_cast<std::size_t>(node)].children;
  const auto it = std::lower_bound(children.begin(), children.end(), std::pair{token, 0});
  return it != children.end() && it->first == token ? it->second : -1;
}

std::pair<KeywordMatch, float> KeywordTrie::enter(int token) const {
  const int next = child(0, token);
  if (next < 0) return {KeywordMatch{}, 0.0F};
  const Node& n = nodes_[static_cast<std::size_t>(next)];
  // A one-token keyword is complete at once; it stays open only if longer ones go on from it.
  return {KeywordMatch{n.children.empty() ? 0 : next, n.complete ? 0.0F : n.bonus}, n.bonus};
}

std::pair<KeywordMatch, float> KeywordTrie::step(const KeywordMatch& from, int token) const {
  const int next = from.node == 0 ? -1 : child(from.node, token);
  if (next < 0) {
    auto [match, gain] = enter(token);
    return {match, gain - from.pending};
  }
  const Node& n = nodes_[static_cast<std::size_t>(next)];
  const KeywordMatch match{n.children.empty() ? 0 : next,
                           n.complete ? 0.0F : from.pending + n.bonus};
  return {match, n.bonus};
}

void KeywordTrie::boosts(const KeywordMatch& from, std::vector<std::pair<int, float>>& out) const {
  out.clear();
  if (from.node != 0) {
    for (const auto& [token, next] : nodes_[static_cast<std::size_t>(from.node)].children) {
      out.emplace_back(token, nodes_[static_cast<std::size_t>(next)].bonus + from.pending);
    }
  }
  for (const auto& [token, next] : nodes_[0].children) {
    // A token that continues the current keyword was listed above (continuing wins).
    if (from.node != 0 && child(from.node, token) >= 0) continue;
    out.emplace_back(token, nodes_[static_cast<std::size_t>(next)].bonus);
  }
}

}  // namespace amanuensis::decoding
