#include "decoding/segment_split.h"

#include <algorithm>
#include <cstddef>

#include "decoding/decode_plan.h"

namespace amanuensis::decoding {

WindowSplit split_at_timestamps(int timestamp_begin, const std::vector<int>& tokens,
                                double time_offset, int seek, int size, double duration) {
  const auto n = tokens.size();
  WindowSplit split;
  split.single_timestamp_ending =
      n >= 2 && tokens[n - 2] < timestamp_begin && tokens[n - 1] >= timestamp_begin;

  std::vector<std::size_t> cuts;  // a cut falls between two consecutive timestamps
  for (std::size_t i = 1; i < n; ++i) {
    if (tokens[i] >= timestamp_begin && tokens[i - 1] >= timestamp_begin) cuts.push_back(i);
  }
  if (cuts.empty()) {
    const auto last_timestamp =
        std::find_if(tokens.rbegin(), tokens.rend(), [&](int t) { return t >= timestamp_begin; });
    if (last_timestamp != tokens.rend() && *last_timestamp != timestamp_begin) {
      duration = (*last_timestamp - timestamp_begin) * kSecondsPerTimestamp;
    }
    split.segments.push_back({time_offset, time_offset + duration, tokens, {}});
    split.next_seek = seek + size;
    return split;
  }
  if (split.single_timestamp_ending) cuts.push_back(n);
  std::size_t previous = 0;
  for (const auto cut : cuts) {
    const std::vector<int> slice(tokens.begin() + static_cast<std::ptrdiff_t>(previous),
                                 tokens.begin() + static_cast<std::ptrdiff_t>(cut));
    split.segments.push_back(
        {time_offset + (slice.front() - timestamp_begin) * kSecondsPerTimestamp,
         time_offset + (slice.back() - timestamp_begin) * kSecondsPerTimestamp,
         slice,
         {}});
    previous = cut;
  }
  // With a single timestamp at the end, the speech ended inside the window: move past it.
  // Otherwise the last segment is unfinished: decode again from its start.
  split.next_seek = split.single_timestamp_ending
                        ? seek + size
                        : seek + (tokens[previous - 1] - timestamp_begin) * kFramesPerTimestamp;
  return split;
}

Segment to_segment(SegmentDraft piece, std::string text, int seek) {
  Segment segment;
  segment.seek = seek;
  segment.start = piece.start;
  segment.end = piece.end;
  segment.text = std::move(text);
  segment.tokens = std::move(piece.tokens);
  for (auto& word : piece.words) {
    segment.words.push_back({word.start, word.end, std::move(word.word), word.probability});
  }
  return segment;
}

}  // namespace amanuensis::decoding
