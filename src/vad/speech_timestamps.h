// From VAD probabilities to speech spans, and the bookkeeping the engine needs to transcribe only
// the speech: ports of faster-whisper 1.2.1's vad.py (get_speech_timestamps, collect_chunks,
// SpeechTimestampsMap), line for line where the results depend on it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::vad {

// faster-whisper's get_speech_timestamps after the model has run: `probabilities` has one value
// per 512-sample window of the zero-padded audio, `audio_samples` is the unpadded length. The
// options are not validated here (see amanuensis::validate).
std::vector<SpeechSpan> speech_timestamps(std::span<const float> probabilities,
                                          std::int64_t audio_samples, const VadOptions& options);

// A piece of the concatenated speech audio (gather_speech of all spans) that is transcribed as
// one: `offset` and `samples` are positions in the concatenated audio, `spans` the speech spans
// (in the original audio) it is made of, in order.
struct Chunk {
  std::int64_t offset = 0;
  std::int64_t samples = 0;
  std::vector<SpeechSpan> spans;
};

// faster-whisper's collect_chunks: spans merged in order into chunks of at most max_seconds of
// audio (infinity: one chunk); a span longer than that gets a chunk of its own. Never returns an
// empty chunk unless spans is empty (then one empty chunk, as faster-whisper).
//
// Two departures from faster-whisper's metadata, neither of which changes its transcripts: it
// leaves the first span of every chunk after the first out of the chunk's "segments" (which
// nothing reads), and it emits an empty chunk first when the first span alone is longer than
// max_seconds.
std::vector<Chunk> collect_chunks(std::span<const SpeechSpan> spans, double max_seconds);

// The audio of the spans, concatenated. Throws Error when a span lies outside the audio or ends
// before it starts.
std::vector<float> gather_speech(std::span<const float> audio, std::span<const SpeechSpan> spans);

// faster-whisper's SpeechTimestampsMap (time_precision 2): maps a time in the concatenated speech
// back to the original audio by adding the silence removed before the span it falls in.
class SpeechTimestampMap {
 public:
  explicit SpeechTimestampMap(std::span<const SpeechSpan> spans);

  // Index of the span holding `time` (seconds in the concatenated speech): the first whose end
  // lies after it, the last span for times past the end. With `is_end`, a time exactly at a
  // span's end belongs to that span rather than the next. 0 when there are no spans.
  [[nodiscard]] int chunk_index(double time, bool is_end = false) const;

  // `time` plus the silence removed before span `chunk_index` (default: the span chunk_index()
  // finds), rounded to 2 decimals as Python's round() does. Throws Error for a chunk_index out of
  // range; with no spans, the time is only rounded.
  [[nodiscard]] double original_time(double time, std::optional<int> chunk_index = std::nullopt,
                                     bool is_end = false) const;

  // Seconds of silence removed before span `chunk_index`, and where that span ends in the
  // concatenated speech.
  [[nodiscard]] double silence_before(int chunk_index) const;
  [[nodiscard]] double chunk_end(int chunk_index) const;

 private:
  std::vector<std::int64_t> chunk_end_sample_;
  std::vector<double> total_silence_before_;
};

}  // namespace amanuensis::vad
