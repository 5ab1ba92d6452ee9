// Cutting one window's tokens into timed segments at its timestamp tokens (faster-whisper's
// _split_segments_by_timestamps).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/word_timing.h"

namespace amanuensis::decoding {

struct WindowSplit {
  std::vector<SegmentDraft> segments;
  int next_seek = 0;  // the frame the next window starts at
  bool single_timestamp_ending = false;
};

// A segment ends at each pair of consecutive timestamps (and at a single final timestamp); text
// without such a pair is one segment lasting until its last timestamp, else `duration` seconds.
// Times are `time_offset` plus the timestamps; the next window starts after the window
// (`seek` + `size` frames) when the speech ended in it, else at the last segment's end.
WindowSplit split_at_timestamps(int timestamp_begin, const std::vector<int>& tokens,
                                double time_offset, int seek, int size, double duration);

// A finished segment: its times, text, tokens and words (id and scores left to the caller).
Segment to_segment(SegmentDraft piece, std::string text, int seek);

// Where the transcription runners hand each finished segment, in order (times in seconds of the
// audio the runner was given); the caller numbers them, maps times back, streams and keeps them.
using SegmentSink = std::function<void(Segment)>;

}  // namespace amanuensis::decoding
