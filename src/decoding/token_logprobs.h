// Segments' token log-probabilities (TranscribeOptions::logprobs): a window's decode gives one per
// sampled token; each segment cut from it takes those of its own text tokens.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/search.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

// Walks a window's segments in order: each call takes the segment whose tokens are the next run
// of the window's decoded tokens.
class TokenLogprobCursor {
 public:
  TokenLogprobCursor(const model::Tokenizer& tokenizer, const DecodeResult& window)
      : tokenizer_(tokenizer), window_(window) {}

  // The text tokens of `segment_tokens` (timestamps and other special tokens left out) with
  // their log-probabilities. Throws Error when the tokens are not the window's next run.
  std::vector<TokenLogprob> next(std::span<const int> segment_tokens);

 private:
  const model::Tokenizer& tokenizer_;
  const DecodeResult& window_;
  std::size_t at_ = 0;
};

}  // namespace amanuensis::decoding
