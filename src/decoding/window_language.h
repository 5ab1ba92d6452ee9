// Per-window language (TranscribeOptions::multilingual, faster-whisper's `multilingual`): each
// window's language is detected on its own encoder output and the window is decoded in it, so that
// code-switched speech is transcribed in each language. Unlike faster-whisper, a window whose
// likeliest language is not above `language_detection_threshold` keeps the language it would
// otherwise have had, instead of flipping on a guess.
#pragma once

#include <map>
#include <memory>
#include <stop_token>
#include <string>

#include "amanuensis/amanuensis.h"
#include "decoding/decode_plan.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

class WindowLanguage {
 public:
  // `plan`: the transcription's plan, in the language detected or given for the whole audio.
  WindowLanguage(const model::Tokenizer& tokenizer, const TranscribeOptions& options,
                 const DecodePlan& plan);

  // The plan to decode the window whose cross-attention cache is `cross` with: in its detected
  // language when that is above the threshold, else in `current`'s. Without multilingual,
  // `current` itself and no detection.
  const DecodePlan& plan_for(model::DecodeBatcher& decoder,
                             const std::shared_ptr<const model::CrossAttentionCache>& cross,
                             const DecodePlan& current, const std::stop_token& stop);

 private:
  const model::Tokenizer& tokenizer_;
  const TranscribeOptions& o_;
  const DecodePlan& plan_;
  std::map<std::string, DecodePlan> others_;  // plans of the other languages met, made once
};

}  // namespace amanuensis::decoding
