#include "decoding/greedy_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "amanuensis/amanuensis.h"

namespace amanuensis::decoding {

namespace {

constexpr float kForbidden = -std::numeric_limits<float>::infinity();

float softmax_probability(std::span<const float> logits, int token) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (const float v : logits) total += std::exp(static_cast<double>(v - max_logit));
  return static_cast<float>(std::exp(static_cast<double>(logits[token] - max_logit)) / total);
}

// Index of the best token and its log-probability under the (masked) distribution.
std::pair<int, double> best_token(std::span<const float> logits) {
  const auto best = std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (const float v : logits) total += std::exp(static_cast<double>(v - *best));
  return {static_cast<int>(best - logits.begin()), -std::log(total)};
}

}  // namespace

DecodeResult greedy_decode(const model::WhisperModel& model, model::DecoderState& state,
                           const DecodeRequest& request) {
  const int n_vocab = model.weights().n_vocab;
  const int context = model.weights().n_text_ctx;
  const auto prompt_length = static_cast<int>(request.prompt.size());
  if (prompt_length == 0 || prompt_length >= context) {
    throw Error("prompt of " + std::to_string(prompt_length) + " tokens does not fit the decoder context");
  }

  DecodeResult result;
  const int last = prompt_length - 1;
  const int positions[] = {request.start_of_transcript_index, last};
  auto logits = model.decode(state, request.prompt, positions);
  result.no_speech_prob = softmax_probability({logits.data(), static_cast<std::size_t>(n_vocab)},
                                              request.no_speech_token);
  logits.erase(logits.begin(), logits.begin() + n_vocab);

  // Stops at end-of-text, or when the next token would no longer fit the decoder's context.
  while (true) {
    for (const int token : request.suppressed) logits[token] = kForbidden;
    if (result.tokens.empty()) {
      for (const int token : request.suppressed_first) logits[token] = kForbidden;
    }
    if (request.timestamp_rules) request.timestamp_rules->apply(result.tokens, logits);

    const auto [token, logprob] = best_token(logits);
    result.sum_logprob += logprob;
    if (token == request.end_of_text) break;
    result.tokens.push_back(token);
    if (state.length >= context) break;
    const int fed[] = {token};
    const int at[] = {0};
    logits = model.decode(state, fed, at);
  }
  result.avg_logprob = result.sum_logprob / static_cast<double>(result.tokens.size() + 1);
  return result;
}

}  // namespace amanuensis::decoding
