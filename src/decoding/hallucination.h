// faster-whisper's hallucination_silence_threshold: with word timestamps, a segment whose words
// look unlike speech (improbable, very short or very long) and that stands between long silences
// is taken for a hallucination; decoding skips the silence before it and tries again.
#pragma once

#include <optional>
#include <vector>

#include "decoding/word_timing.h"

namespace amanuensis::decoding {

// How unlike real speech a word's timing is (faster-whisper's word_anomaly_score).
double word_anomaly_score(const TimedWord& word);

// Whether the first eight non-punctuation words of the segment add up to an anomaly; false for
// a missing segment or one without words.
bool is_segment_anomaly(const SegmentDraft* segment);

// One decoded window, where the silence check needs its bounds.
struct WindowBounds {
  int seek = 0;                   // first frame
  int frames = 0;                 // frames of audio in it
  double start = 0.0;             // seconds
  double duration = 0.0;          // seconds of audio in it
  double end_time = 0.0;          // start + a full window's length
  double content_duration = 0.0;  // seconds of the whole audio
  int content_frames = 0;
};

struct HallucinationSkip {
  bool skip_window = false;  // drop every segment of the window
  std::optional<int> seek;   // where decoding resumes, when it changes
};

// Applies the threshold to the window's segments (words timed): may drop the window or cut the
// segments from the first hallucination on, and says where to resume.
HallucinationSkip skip_hallucinations(std::vector<SegmentDraft>& segments, double threshold,
                                      const WindowBounds& window, double last_speech_timestamp);

}  // namespace amanuensis::decoding
