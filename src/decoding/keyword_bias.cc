#include "decoding/keyword_bias.h"

#include <algorithm>

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
