#include "decoding/token_logprobs.h"

#include <algorithm>

namespace amanuensis::decoding {

std::vector<TokenLogprob> TokenLogprobCursor::next(std::span<const int> segment_tokens) {
  const auto& tokens = window_.tokens;
  // Segments are cut from the decoded tokens in order, a few between them (a timestamp pair)
  // at most: find this one's run from where the last ended.
  const auto from = tokens.begin() + static_cast<std::ptrdiff_t>(std::min(at_, tokens.size()));
  const auto run = std::search(from, tokens.end(), segment_tokens.begin(), segment_tokens.end());
  if (run == tokens.end() && !segment_tokens.empty()) {
    throw Error("internal: a segment's tokens are not part of its window's decode");
  }
  const auto start = static_cast<std::size_t>(run - tokens.begin());
  at_ = start + segment_tokens.size();
  std::vector<TokenLogprob> out;
  const int end_of_text = tokenizer_.special().end_of_text;
  for (std::size_t i = 0; i < segment_tokens.size(); ++i) {
    const int token = segment_tokens[i];
    if (token >= end_of_text) continue;  // timestamps and other special tokens
    const float logprob =
        start + i < window_.token_logprobs.size() ? window_.token_logprobs[start + i] : 0.0F;
    out.push_back({tokenizer_.token_text(token), tokenizer_.token_bytes(token), logprob});
  }
  return out;
}

}  // namespace amanuensis::decoding
