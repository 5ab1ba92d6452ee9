// Weighted keywords (contextual biasing): a token trie of the keywords that the search consults
// at every step, giving a log-probability bonus to each token that spells a keyword further, and
// taking the bonus back when the spelling is abandoned before the keyword is complete, so that
// partial matches earn nothing and only whole keywords move the ranking.
//
// Each keyword enters the trie as its tokens with and without a leading space, as given and with
// its first letter capitalised. A token's bonus is kKeywordBonus times the keyword's weight (the
// largest weight among keywords sharing that prefix).
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

// Log-probability added per keyword token at weight 1.
inline constexpr float kKeywordBonus = 1.5F;

// Where one hypothesis stands in the trie: its node (0, the root, outside any keyword) and the
// bonus it has earned since it last completed a keyword (what a mismatch takes back).
struct KeywordMatch {
  int node = 0;
  float pending = 0.0F;
};

class KeywordTrie {
 public:
  KeywordTrie() = default;
  // The variants of each keyword, tokenized by `tokenizer`.
  KeywordTrie(const model::Tokenizer& tokenizer, std::span<const Keyword> keywords);

  // Adds one spelling (token ids) with its weight.
  void add(std::span<const int> tokens, float weight);
  [[nodiscard]] bool empty() const { return nodes_.size() <= 1; }

  // What choosing `token` after `from` does: the new match and the change to the hypothesis's
  // score (a bonus, minus what is taken back). A token that completes a keyword keeps its bonus
  // for good; one that leaves a keyword unfinished takes back its pending bonus, and may start
  // another keyword.
  [[nodiscard]] std::pair<KeywordMatch, float> step(const KeywordMatch& from, int token) const;

  // The score change of every token for which step() is not just -from.pending (the tokens that
  // continue a keyword from `from` or start one), as (token, change + from.pending): what to add
  // to those tokens' logits so that, with from.pending taken off the hypothesis's score, each
  // token's score changes as step() says.
  void boosts(const KeywordMatch& from, std::vector<std::pair<int, float>>& out) const;

 private:
  struct Node {
    std::vector<std::pair<int, int>> children;  // (token, node), sorted by token
    float bonus = 0.0F;                         // earned by the token that leads here
    bool complete = false;                      // a keyword ends here
  };
  [[nodiscard]] int child(int node, int token) const;
  // step() from the root for a token, when `node` does not go on with it.
  [[nodiscard]] std::pair<KeywordMatch, float> enter(int token) const;

  std::vector<Node> nodes_{Node{}};
};

}  // namespace amanuensis::decoding
