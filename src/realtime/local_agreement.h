// LocalAgreement-2 (Machacek et al., "Turning Whisper into Real-Time Transcription System", as
// whisper_streaming implements it): the open turn is re-decoded as it grows, and a word is
// confirmed once two successive hypotheses agree on it and on everything before it. Confirmed
// words are never taken back, so they can be sent to the client as deltas at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::realtime {

// One word of a hypothesis, spelled as the decoder wrote it (Whisper words carry their leading
// space: " Hello,"). `probability`, when known, is the model's (word timestamps).
struct HypothesisWord {
  std::string text;
  std::optional<float> probability;
};

// Splits decoded text into words at whitespace, each keeping the spaces before it; characters of
// scripts written without spaces (CJK, kana, Thai) are a word each, so that agreement can still
// confirm part of a sentence in them.
std::vector<HypothesisWord> split_words(std::string_view text);

// The form two words are compared in: lower case (ASCII), without punctuation or spaces, so that
// "Hello," and " hello" agree.
std::string comparable(std::string_view word);

class LocalAgreement {
 public:
  // Takes the newest hypothesis of the whole open turn; returns the words it newly confirms
  // (spelled as in this hypothesis): those after the confirmed ones on which it agrees with the
  // previous hypothesis, counted from the first word, up to the first disagreement. Confirmed
  // words stand even when later hypotheses spell them differently.
  std::vector<HypothesisWord> update(std::vector<HypothesisWord> hypothesis);

  // The words of `final_hypothesis` (the turn's last decode) after the confirmed ones: what the
  // transcript adds to the deltas. When it disagrees with the confirmed words the confirmed
  // words still stand, and the tail is taken after the same number of words.
  [[nodiscard]] std::vector<HypothesisWord> tail(
      const std::vector<HypothesisWord>& final_hypothesis) const;

  [[nodiscard]] std::size_t confirmed() const { return confirmed_.size(); }
  [[nodiscard]] const std::vector<HypothesisWord>& confirmed_words() const { return confirmed_; }
  void reset();

 private:
  std::vector<HypothesisWord> confirmed_;
  std::vector<HypothesisWord> previous_;  // the last hypothesis
};

}  // namespace amanuensis::realtime
