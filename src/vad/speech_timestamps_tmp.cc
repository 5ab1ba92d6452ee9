// TEMPORARY stand-in (the vad branch brings the real one).
#include <algorithm>
#include <cmath>

#include "vad/speech_timestamps.h"

namespace amanuensis {
std::vector<SpeechSpan> detect_speech(std::span<const float>, const VadOptions&,
                                      const std::filesystem::path&) {
  throw Error("VAD not built yet");
}
void validate(const VadOptions&) {}
}  // namespace amanuensis

namespace amanuensis::vad {
std::vector<Chunk> collect_chunks(std::span<const SpeechSpan> spans, double max_seconds) {
  std::vector<Chunk> chunks;
  if (spans.empty()) return {Chunk{}};
  Chunk current;
  std::int64_t total = 0;
  for (const auto& span : spans) {
    const auto length = span.end - span.start;
    if (current.samples + length > max_seconds * kSampleRate) {
      if (current.samples > 0) chunks.push_back(current);
      total += current.samples;
      current = Chunk{total, 0, {}};
    }
    current.spans.push_back(span);
    current.samples += length;
  }
  chunks.push_back(current);
  return chunks;
}
std::vector<float> gather_speech(std::span<const float> audio, std::span<const SpeechSpan> spans) {
  std::vector<float> out;
  for (const auto& s : spans) out.insert(out.end(), audio.begin() + s.start, audio.begin() + s.end);
  return out;
}
SpeechTimestampMap::SpeechTimestampMap(std::span<const SpeechSpan> spans) {
  std::int64_t previous_end = 0, silent = 0;
  for (const auto& s : spans) {
    silent += s.start - previous_end;
    previous_end = s.end;
    chunk_end_sample_.push_back(s.end - silent);
    total_silence_before_.push_back(static_cast<double>(silent) / kSampleRate);
  }
}
int SpeechTimestampMap::chunk_index(double time, bool is_end) const {
  const auto sample = static_cast<std::int64_t>(time * kSampleRate);
  if (is_end) {
    const auto it = std::find(chunk_end_sample_.begin(), chunk_end_sample_.end(), sample);
    if (it != chunk_end_sample_.end()) return static_cast<int>(it - chunk_end_sample_.begin());
  }
  const auto i = std::upper_bound(chunk_end_sample_.begin(), chunk_end_sample_.end(), sample) -
                 chunk_end_sample_.begin();
  return static_cast<int>(std::min<std::ptrdiff_t>(i, chunk_end_sample_.size() - 1));
}
double SpeechTimestampMap::original_time(double time, std::optional<int> index, bool is_end) const {
  const int i = index ? *index : chunk_index(time, is_end);
  return std::round((total_silence_before_[i] + time) * 100.0) / 100.0;
}
}  // namespace amanuensis::vad
