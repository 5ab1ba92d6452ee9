// Decoding one window: feed the prompt, then choose tokens by beam search (temperature 0) or by
// sampling (temperature > 0, greedy when there is one sample at temperature 0), following
// CTranslate2's search so that results match faster-whisper's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stop_token>
#include <vector>

#include "decoding/timestamp_rules.h"
#include "model/decode_batcher.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

struct DecodeRequest {
  std::vector<int> prompt;            // previous text, then the start-of-transcript sequence
  std::vector<int> forced;            // tokens the output must start with (a prefix)
  int start_of_transcript_index = 0;  // where in `prompt` the no-speech probability is read
  int no_speech_token = 0;
  int end_of_text = 0;
  std::vector<int> suppressed;        // never sampled
  std::vector<int> suppressed_first;  // not sampled as the first token
  std::optional<TimestampRules> timestamp_rules;
  int max_new_tokens = 0;  // stop here if end-of-text has not come
};

struct DecodeResult {
  std::vector<int> tokens;   // sampled tokens, without the prompt or the final end-of-text
  double sum_logprob = 0.0;  // includes the end-of-text token's log-probability
  double avg_logprob = 0.0;  // sum_logprob / (tokens + 1), as faster-whisper reports it
  float no_speech_prob = 0.0F;
};

struct SearchOptions {
  int beam_size = 1;  // used at temperature 0
  float patience = 1.0F;
  float length_penalty = 1.0F;
  float temperature = 0.0F;
  int samples = 1;  // candidates drawn at temperature > 0 (best_of)
};

// Steps go through `decoder`, merged with other requests' steps that meet them; `stop` cancels
// between steps (Cancelled).
DecodeResult decode_window(model::DecodeBatcher& decoder,
                           const std::shared_ptr<const model::CrossAttentionCache>& cross,
                           const DecodeRequest& request, const SearchOptions& options,
                           std::mt19937_64& random, const std::stop_token& stop);

}  // namespace amanuensis::decoding
