#include "decoding/window_language.h"

namespace amanuensis::decoding {

WindowLanguage::WindowLanguage(const model::Tokenizer& tokenizer, const TranscribeOptions& options,
                               const DecodePlan& plan)
    : tokenizer_(tokenizer), o_(options), plan_(plan) {}

const DecodePlan& WindowLanguage::plan_for(
    model::DecodeBatcher& decoder, const std::shared_ptr<const model::CrossAttentionCache>& cross,
    const DecodePlan& current, const std::stop_token& stop) {
  if (!o_.multilingual) return current;
  const auto probabilities = detect_language(decoder, tokenizer_, cross, stop, o_.languages);
  const auto& [language, probability] = probabilities.front();
  if (language == current.language || !(probability > o_.language_detection_threshold)) {
    return current;
  }
  if (language == plan_.language) return plan_;
  auto found = others_.find(language);
  if (found == others_.end()) {
    found = others_
                .emplace(language, make_plan(decoder.model().weights(), tokenizer_, o_, language,
                                             plan_.without_timestamps))
                .first;
  }
  return found->second;
}

}  // namespace amanuensis::decoding
