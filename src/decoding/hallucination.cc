#include "decoding/hallucination.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "decoding/decode_plan.h"

namespace amanuensis::decoding {

namespace {

const SegmentDraft* next_with_words(const std::vector<SegmentDraft>& segments, std::size_t from) {
  for (std::size_t i = from; i < segments.size(); ++i) {
    if (!segments[i].words.empty()) return &segments[i];
  }
  return nullptr;
}

int to_frames(double seconds) { return static_cast<int>(std::lround(seconds * kFramesPerSecond)); }

}  // namespace

double word_anomaly_score(const TimedWord& word) {
  const double duration = word.end - word.start;
  double score = 0.0;
  if (word.probability < 0.15F) score += 1.0;
  if (duration < 0.133) score += (0.133 - duration) * 15;
  if (duration > 2.0) score += duration - 2.0;
  return score;
}

bool is_segment_anomaly(const SegmentDraft* segment) {
  static const std::string kPunctuation =
      "\"'\u201c\u00bf([{-\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";
  if (segment == nullptr || segment->words.empty()) return false;
  // The first eight words that are not punctuation.
  double score = 0.0;
  int counted = 0;
  for (const auto& word : segment->words) {
    if (counted == 8) break;
    if (kPunctuation.find(word.word) != std::string::npos) continue;
    score += word_anomaly_score(word);
    ++counted;
  }
  return score >= 3 || score + 0.01 >= counted;
}

HallucinationSkip skip_hallucinations(std::vector<SegmentDraft>& segments, double threshold,
                                      const WindowBounds& window, double last_speech_timestamp) {
  HallucinationSkip skip;
  // A likely hallucination after a long silence: skip the silence and decode again.
  const auto* first = next_with_words(segments, 0);
  if (first != nullptr && is_segment_anomaly(first) && first->start - window.start > threshold) {
    skip.skip_window = true;
    skip.seek = window.seek + to_frames(first->start - window.start);
    return skip;
  }
  // A hallucination between silences (or other hallucinations): resume at it, dropping it and
  // what follows.
  double last_end = last_speech_timestamp;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& segment = segments[i];
    if (segment.words.empty()) continue;
    if (is_segment_anomaly(&segment)) {
      const auto* next = next_with_words(segments, i + 1);
      const double next_start =
          next != nullptr ? next->words.front().start : window.start + window.duration;
      const bool silence_before = segment.start - last_end > threshold ||
                                  segment.start < threshold || segment.start - window.start < 2.0;
      const bool silence_after = next_start - segment.end > threshold || is_segment_anomaly(next) ||
                                 window.end_time - segment.end < 2.0;
      if (silence_before && silence_after) {
        skip.seek = to_frames(std::max(window.start + 1, segment.start));
        if (window.content_duration - segment.end < threshold) skip.seek = window.content_frames;
        segments.erase(segments.begin() + static_cast<std::ptrdiff_t>(i), segments.end());
        return skip;
      }
    }
    last_end = segment.end;
  }
  return skip;
}

}  // namespace amanuensis::decoding
