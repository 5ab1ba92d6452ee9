// Decoding one window: feed the prompt, then choose tokens by beam search (temperature 0) or by
// sampling (temperature > 0, greedy when there is one sample at temperature 0), following
// CTranslate2's search so that results match faster-whisper's.
//
// A search is a state machine (WindowSearch): it says which decoder step it needs next and takes
// that step's logits, so that the searches of several windows can put their steps through the
// decoder together (decode_windows), each window keeping its own cross-attention.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stop_token>
#include <vector>

#include "decoding/keyword_bias.h"
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
  // Logits of tokens already sampled (not the prompt or the forced prefix) are divided by this
  // when positive, multiplied when negative (CTranslate2's RepetitionPenalty); 1 is off.
  float repetition_penalty = 1.0F;
  // No n-gram of this many sampled tokens may repeat (CTranslate2's NoRepeatNgram); 0 is off.
  int no_repeat_ngram_size = 0;
  // Weighted keywords (keyword_bias.h): their bonuses steer the choice of tokens; the
  // log-probabilities reported stay the model's. Null or empty: off.
  std::shared_ptr<const KeywordTrie> keywords;
};

struct DecodeResult {
  std::vector<int> tokens;            // sampled tokens, without the prompt or the final end-of-text
  std::vector<float> token_logprobs;  // each token's log-probability (0 for a forced prefix)
  double sum_logprob = 0.0;           // includes the end-of-text token's log-probability
  double avg_logprob = 0.0;           // sum_logprob / (tokens + 1), as faster-whisper reports it
  float no_speech_prob = 0.0F;
};

struct SearchOptions {
  int beam_size = 1;  // used at temperature 0
  float patience = 1.0F;
  float length_penalty = 1.0F;
  float temperature = 0.0F;
  int samples = 1;  // candidates drawn at temperature > 0 (best_of)
};

// Applies the suppression lists, repetition controls and timestamp rules to one sequence's
// logits, in CTranslate2's order. `sampled` holds the tokens after the prompt (the forced prefix
// first), of which the last `free` were chosen by the search.
void constrain(const DecodeRequest& request, std::span<const int> sampled, std::size_t free,
               std::span<float> logits);

// One window's search. next_step() names the decoder step it needs (feeding the prompt first,
// then one token per live sequence); advance() takes that step's logits. Its decoder state (and
// cross-attention) stays inside until the search is done.
class WindowSearch {
 public:
  // `random` (used at temperature > 0) must outlive the search.
  static std::unique_ptr<WindowSearch> create(
      const model::WhisperModel& model, std::shared_ptr<const model::CrossAttentionCache> cross,
      const DecodeRequest& request, const SearchOptions& options, std::mt19937_64& random);
  virtual ~WindowSearch() = default;
  WindowSearch(const WindowSearch&) = delete;
  WindowSearch& operator=(const WindowSearch&) = delete;

  [[nodiscard]] bool done() const { return done_; }
  // The next step; its spans point into this search and stay valid until advance().
  [[nodiscard]] model::DecodeStep next_step();
  // Consumes the logits of the step next_step() returned: [positions, n_vocab].
  void advance(std::vector<float> logits);
  // The best hypothesis; only once done().
  [[nodiscard]] DecodeResult result();

 protected:
  WindowSearch(const model::WhisperModel& model,
               std::shared_ptr<const model::CrossAttentionCache> cross,
               const DecodeRequest& request, const SearchOptions& options);
  // Chooses tokens from the logits of the live rows; sets next_tokens_ (one per live sequence,
  // after reordering state_) or finishes.
  virtual void choose(std::vector<float>& logits) = 0;
  // After the prompt step: `logits` holds one row, the first token's.
  virtual void start(std::vector<float>& logits) = 0;
  [[nodiscard]] virtual DecodeResult best() = 0;
  void finish() { done_ = true; }

  const model::WhisperModel& model_;
  const DecodeRequest& request_;
  const SearchOptions options_;
  const int n_vocab_;
  model::DecoderState state_;
  std::vector<int> next_tokens_;
  float no_speech_prob_ = 0.0F;
  int step_ = 0;  // tokens chosen so far per sequence

 private:
  std::vector<int> fed_;  // the prompt and forced prefix, for the first step
  std::vector<int> rows_;
  std::vector<float> spare_logits_;  // the last step's, for the next step to fill
  bool prompt_fed_ = false;
  bool done_ = false;
};

// Steps go through `decoder`, merged with other requests' steps that meet them; `stop` cancels
// between steps (Cancelled).
DecodeResult decode_window(model::DecodeBatcher& decoder,
                           const std::shared_ptr<const model::CrossAttentionCache>& cross,
                           const DecodeRequest& request, const SearchOptions& options,
                           std::mt19937_64& random, const std::stop_token& stop);

// Several windows' searches side by side: every decoder step carries each unfinished window's
// step, so the decoder's weights are read once per step for all of them. Results in the order
// of `crosses` and `requests` (one each, same length).
std::vector<DecodeResult> decode_windows(
    model::DecodeBatcher& decoder,
    std::span<const std::shared_ptr<const model::CrossAttentionCache>> crosses,
    std::span<const DecodeRequest> requests, const SearchOptions& options, std::mt19937_64& random,
    const std::stop_token& stop);

}  // namespace amanuensis::decoding
