#include "vad/speech_timestamps.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace amanuensis::vad {

namespace {

constexpr std::int64_t kWindow = 512;
constexpr double kRate = kSampleRate;

// Python's a // 2 (rounds toward minus infinity).
std::int64_t floor_half(std::int64_t a) { return a >= 0 ? a / 2 : -((1 - a) / 2); }

// Python's int(x) of a float (truncation toward zero).
std::int64_t to_int(double x) { return static_cast<std::int64_t>(x); }

// The thresholds and lengths get_speech_timestamps derives from its options, in samples, with
// Python's types: the sample counts are floats, compared with integer positions.
struct Limits {
  float threshold = 0;
  float neg_threshold = 0;
  double min_speech = 0;
  double pad = 0;
  double max_speech = 0;
  double min_silence = 0;
  double min_silence_at_max_speech = kRate * 98 / 1000;

  explicit Limits(const VadOptions& o)
      : threshold(o.threshold),
        // Python computes max(threshold - 0.15, 0.01) in double; NumPy compares it with the
        // float32 probabilities in float32.
        neg_threshold(o.neg_threshold.value_or(
            static_cast<float>(std::max(static_cast<double>(o.threshold) - 0.15, 0.01)))),
        min_speech(kRate * o.min_speech_duration_ms / 1000),
        pad(kRate * o.speech_pad_ms / 1000),
        max_speech(kRate * static_cast<double>(o.max_speech_duration_s) -
                   static_cast<double>(kWindow) - 2 * pad),
        min_silence(kRate * o.min_silence_duration_ms / 1000) {}
};

// The thresholding loop of get_speech_timestamps: unpadded spans.
std::vector<SpeechSpan> find_speech(std::span<const float> probs, std::int64_t audio_samples,
                                    const Limits& lim) {
  std::vector<SpeechSpan> speeches;
  bool triggered = false;
  // faster-whisper's current_speech: {} (open == false) or {"start": start}.
  bool open = false;
  std::int64_t start = 0;
  std::int64_t temp_end = 0;    // where a silence began (to tolerate short ones)
  std::int64_t prev_end = 0;    // end of the last silence of over 98 ms, for splitting
  std::int64_t next_start = 0;  // where speech resumed after it
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const float prob = probs[i];
    const std::int64_t pos = kWindow * static_cast<std::int64_t>(i);
    if (prob >= lim.threshold && temp_end != 0) {
      temp_end = 0;
      if (next_start < prev_end) next_start = pos;
    }
    if (prob >= lim.threshold && !triggered) {
      triggered = true;
      open = true;
      start = pos;
      continue;
    }
    if (triggered && static_cast<double>(pos - start) > lim.max_speech) {
      if (prev_end != 0) {  // split at the last long-enough silence
        speeches.push_back({start, prev_end});
        open = false;
        if (next_start < prev_end) {  // still silent since then
          triggered = false;
        } else {
          open = true;
          start = next_start;
        }
        prev_end = next_start = temp_end = 0;
      } else {  // no silence to split at: cut here
        speeches.push_back({start, pos});
        open = false;
        prev_end = next_start = temp_end = 0;
        triggered = false;
        continue;
      }
    }
    if (prob < lim.neg_threshold && triggered) {
      if (temp_end == 0) temp_end = pos;
      if (static_cast<double>(pos - temp_end) > lim.min_silence_at_max_speech) prev_end = temp_end;
      if (static_cast<double>(pos - temp_end) < lim.min_silence) continue;
      if (static_cast<double>(temp_end - start) > lim.min_speech) {
        speeches.push_back({start, temp_end});
      }
      open = false;
      prev_end = next_start = temp_end = 0;
      triggered = false;
    }
  }
  if (open && static_cast<double>(audio_samples - start) > lim.min_speech) {
    speeches.push_back({start, audio_samples});
  }
  return speeches;
}

// Pads every span by speech_pad_ms, splitting shorter silences between neighbours in half.
void pad_speech(std::vector<SpeechSpan>& s, std::int64_t audio_samples, double pad) {
  const auto audio_end = static_cast<double>(audio_samples);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 0) s[i].start = to_int(std::max(0.0, static_cast<double>(s[i].start) - pad));
    if (i + 1 != s.size()) {
      const std::int64_t silence = s[i + 1].start - s[i].end;
      if (static_cast<double>(silence) < 2 * pad) {
        s[i].end += floor_half(silence);
        s[i + 1].start = std::max<std::int64_t>(0, s[i + 1].start - floor_half(silence));
      } else {
        s[i].end = to_int(std::min(audio_end, static_cast<double>(s[i].end) + pad));
        s[i + 1].start = to_int(std::max(0.0, static_cast<double>(s[i + 1].start) - pad));
      }
    } else {
      s[i].end = to_int(std::min(audio_end, static_cast<double>(s[i].end) + pad));
    }
  }
}

// Python's round(x, 2): the decimal with two places nearest to x's exact binary value, ties to
// even (to_chars rounds exactly so), read back as a double.
double round_centiseconds(double x) {
  if (!std::isfinite(x)) return x;
  char text[64];
  const auto printed = std::to_chars(text, text + sizeof text, x, std::chars_format::fixed, 2);
  double value = x;
  std::from_chars(text, printed.ptr, value);
  return value;
}

}  // namespace

std::vector<SpeechSpan> speech_timestamps(std::span<const float> probabilities,
                                          std::int64_t audio_samples, const VadOptions& options) {
  const Limits limits(options);
  auto speeches = find_speech(probabilities, audio_samples, limits);
  pad_speech(speeches, audio_samples, limits.pad);
  return speeches;
}

std::vector<Chunk> collect_chunks(std::span<const SpeechSpan> spans, double max_seconds) {
  std::vector<Chunk> chunks;
  Chunk current;
  for (const auto& span : spans) {
    const std::int64_t length = span.end - span.start;
    if (current.samples > 0 &&
        static_cast<double>(current.samples + length) > max_seconds * kRate) {
      const std::int64_t next_offset = current.offset + current.samples;
      chunks.push_back(std::move(current));
      current = Chunk{next_offset, 0, {}};
    }
    current.spans.push_back(span);
    current.samples += length;
  }
  chunks.push_back(std::move(current));
  return chunks;
}

std::vector<float> gather_speech(std::span<const float> audio, std::span<const SpeechSpan> spans) {
  const auto size = static_cast<std::int64_t>(audio.size());
  std::size_t total = 0;
  for (const auto& span : spans) {
    if (span.start < 0 || span.end < span.start || span.end > size) {
      throw Error("speech span [" + std::to_string(span.start) + ", " + std::to_string(span.end) +
                  ") does not lie within the audio's " + std::to_string(size) + " samples");
    }
    total += static_cast<std::size_t>(span.end - span.start);
  }
  std::vector<float> speech;
  speech.reserve(total);
  for (const auto& span : spans) {
    speech.insert(speech.end(), audio.begin() + span.start, audio.begin() + span.end);
  }
  return speech;
}

SpeechTimestampMap::SpeechTimestampMap(std::span<const SpeechSpan> spans) {
  std::int64_t previous_end = 0;
  std::int64_t silent_samples = 0;
  for (const auto& span : spans) {
    silent_samples += span.start - previous_end;
    previous_end = span.end;
    chunk_end_sample_.push_back(span.end - silent_samples);
    total_silence_before_.push_back(static_cast<double>(silent_samples) / kRate);
  }
}

int SpeechTimestampMap::chunk_index(double time, bool is_end) const {
  if (chunk_end_sample_.empty()) return 0;
  // Python's int(time * 16000), kept inside int64 for absurd times.
  const double scaled = std::clamp(time * kRate, -9.0e18, 9.0e18);
  const std::int64_t sample = std::isnan(scaled) ? 0 : to_int(scaled);
  if (is_end) {
    const auto it = std::find(chunk_end_sample_.begin(), chunk_end_sample_.end(), sample);
    if (it != chunk_end_sample_.end()) {
      return static_cast<int>(it - chunk_end_sample_.begin());
    }
  }
  const auto after = std::upper_bound(chunk_end_sample_.begin(), chunk_end_sample_.end(), sample);
  return static_cast<int>(std::min<std::ptrdiff_t>(after - chunk_end_sample_.begin(),
                                                   std::ssize(chunk_end_sample_) - 1));
}

double SpeechTimestampMap::original_time(double time, std::optional<int> chunk_index,
                                         bool is_end) const {
  if (total_silence_before_.empty()) return round_centiseconds(time);
  const int index = chunk_index.value_or(this->chunk_index(time, is_end));
  if (index < 0 || index >= std::ssize(total_silence_before_)) {
    throw Error("speech chunk index " + std::to_string(index) + " out of range: there are " +
                std::to_string(total_silence_before_.size()) + " speech spans");
  }
  return round_centiseconds(total_silence_before_[static_cast<std::size_t>(index)] + time);
}

double SpeechTimestampMap::silence_before(int chunk_index) const {
  if (chunk_index < 0 || chunk_index >= std::ssize(total_silence_before_)) return 0.0;
  return total_silence_before_[static_cast<std::size_t>(chunk_index)];
}

double SpeechTimestampMap::chunk_end(int chunk_index) const {
  if (chunk_index < 0 || chunk_index >= std::ssize(chunk_end_sample_)) return 0.0;
  return static_cast<double>(chunk_end_sample_[static_cast<std::size_t>(chunk_index)]) / kRate;
}

}  // namespace amanuensis::vad
