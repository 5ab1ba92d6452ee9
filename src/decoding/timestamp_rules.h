// Whisper's constraints on timestamp tokens, applied to the logits before each token is chosen
// (the rules of openai/whisper's ApplyTimestampRules, as CTranslate2 implements them).
#pragma once

#include <span>

namespace amanuensis::decoding {

struct TimestampRules {
  int end_of_text = 0;
  int no_timestamps = 0;
  int timestamp_begin = 0;
  int timestamp_end = 0;          // last id of the vocabulary
  int max_initial_timestamp = 0;  // latest timestamp id allowed as the first token

  // `sampled`: the tokens chosen so far in this window (not the prompt). Forbidden tokens get
  // -infinity in `logits`; tokens already at -infinity (suppressed earlier) stay so.
  void apply(std::span<const int> sampled, std::span<float> logits) const;
};

}  // namespace amanuensis::decoding
