// A decoder-less model and hand-made logit rows over a vocabulary of 8, for tests that drive the
// window search (decoding/search.h) step by step.
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "model/whisper_model.h"

namespace amanuensis::test_support {

inline constexpr int kSearchVocab = 8;
inline constexpr int kSearchEnd = 7;       // end of text
inline constexpr int kSearchNoSpeech = 6;  // read at the start-of-transcript row
inline constexpr float kSearchLow = -20.0F;

// The search only needs the model's sizes and empty decoder states.
inline model::WhisperModel tiny_search_model() {
  model::WhisperWeights weights;
  weights.n_vocab = kSearchVocab;
  weights.n_text_ctx = 64;
  weights.n_state = 4;
  weights.n_text_heads = 1;
  return {std::move(weights), kernels::make_cpu_backend(1)};
}

// A row of logits where `likely` tokens get the given values and the rest are very unlikely.
inline std::vector<float> logit_row(std::initializer_list<std::pair<int, float>> likely) {
  std::vector<float> logits(kSearchVocab, kSearchLow);
  for (const auto& [token, value] : likely) logits[token] = value;
  return logits;
}

}  // namespace amanuensis::test_support
