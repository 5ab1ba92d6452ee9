// What every window of one transcription shares: the checked options, the language and the
// start-of-transcript sequence, the suppressed tokens and timestamp rules, and the pieces of the
// prompt (hotwords, prefix), as faster-whisper's transcribe() prepares them.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/search.h"
#include "decoding/word_timing.h"
#include "features/log_mel.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

inline constexpr double kSecondsPerFrame = static_cast<double>(features::kHopLength) / kSampleRate;
inline constexpr double kFramesPerSecond = 1.0 / kSecondsPerFrame;
inline constexpr double kSecondsPerTimestamp = 0.02;
inline constexpr int kFramesPerTimestamp = 2;

// Throws Error naming the option when one is out of range or does not fit the model.
void validate(const TranscribeOptions& options, bool multilingual);

// The user's suppress_tokens, with -1 standing for the model's non-speech tokens, plus the special
// tokens that must never appear inside a transcript; sorted, each once.
std::vector<int> suppressed_tokens(const model::WhisperWeights& weights,
                                   const model::SpecialTokens& special,
                                   const std::vector<int>& requested);

// True for the multilingual vocabularies (51865 tokens and more).
bool is_multilingual(const model::WhisperWeights& weights);

// Probability of each language on one window's cross-attention cache (made from its encoder
// output), likeliest first, choosing among `allowed` languages only (ISO codes; empty: all the
// model knows).
std::vector<std::pair<std::string, float>> detect_language(
    model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
    const std::shared_ptr<const model::CrossAttentionCache>& cross, const std::stop_token& stop,
    std::span<const std::string> allowed = {});

// faster-whisper's detect_language over up to `segments` windows of `mel` from frame `first`,
// each `window_frames` long (0: the model's 30 seconds) and padded to the model's window: stops
// at the first window whose likeliest language is above `threshold`, else a majority vote.
struct LanguageDetection {
  std::string language;
  float probability = 0.0F;
  std::vector<std::pair<std::string, float>> all_language_probs;  ///< of the last window seen
  std::vector<float> first_encoder_output;                        ///< the window at `first`
};
LanguageDetection detect_language(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                                  const features::LogMel& mel, int first, int segments,
                                  int window_frames, float threshold, const std::stop_token& stop,
                                  std::span<const std::string> allowed = {});

// The mel frames a window holds: TranscribeOptions::chunk_length seconds (100 frames each), at
// most the model's window.
int chunk_frames(const TranscribeOptions& options, const model::WhisperModel& model);

struct DecodePlan {
  bool without_timestamps = false;
  std::string language;
  bool split_words_on_characters = false;  // languages written without spaces
  std::vector<int> start_sequence;         // start of transcript, language, task
  DecodeRequest base;                      // suppression, timestamp rules, repetition controls
  std::vector<int> hotword_tokens;         // empty when a prefix is set
  std::vector<int> prefix_tokens;
  std::size_t prompt_limit = 0;  // previous-text tokens a prompt keeps (half context)
  int context = 0;               // the decoder's token context
  int start_of_prev_token = 0;
  int no_timestamps_token = 0;
  int timestamp_begin_token = 0;

  // A window's request: `previous` text (its last prompt_limit tokens) and hotwords, the start
  // sequence, and on the first window the forced prefix; room for new tokens up to the context.
  [[nodiscard]] DecodeRequest request(std::span<const int> previous, bool first_window,
                                      std::optional<int> max_new_tokens) const;

  // What word timing needs for a window decoded with this plan against `cross`.
  [[nodiscard]] WordTimingContext word_timing(
      model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
      const TranscribeOptions& options, std::shared_ptr<const model::CrossAttentionCache> cross,
      const std::stop_token& stop) const;
};

// `language` must be settled already (given, detected, or "en" for English-only models); throws
// Error for a code the model does not know.
DecodePlan make_plan(const model::WhisperWeights& weights, const model::Tokenizer& tokenizer,
                     const TranscribeOptions& options, const std::string& language,
                     bool without_timestamps);

}  // namespace amanuensis::decoding
