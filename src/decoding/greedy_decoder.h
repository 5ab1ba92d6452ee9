// One window's decode: feed the prompt, then take the likeliest allowed token until end-of-text
// or until the decoder's context is full.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "decoding/timestamp_rules.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

struct DecodeRequest {
  std::vector<int> prompt;           // previous text, then the start-of-transcript sequence
  int start_of_transcript_index = 0;  // where in `prompt` the no-speech probability is read
  int no_speech_token = 0;
  int end_of_text = 0;
  std::vector<int> suppressed;        // never sampled
  std::vector<int> suppressed_first;  // not sampled as the first token
  std::optional<TimestampRules> timestamp_rules;
};

struct DecodeResult {
  std::vector<int> tokens;  // sampled tokens, without the prompt or the final end-of-text
  double sum_logprob = 0.0;   // includes the end-of-text token's log-probability
  double avg_logprob = 0.0;   // sum_logprob / (tokens + 1), as faster-whisper reports it
  float no_speech_prob = 0.0F;
};

// `state` must come fresh from WhisperModel::start_decoding (its self-attention cache empty).
DecodeResult greedy_decode(const model::WhisperModel& model, model::DecoderState& state,
                           const DecodeRequest& request);

}  // namespace amanuensis::decoding
