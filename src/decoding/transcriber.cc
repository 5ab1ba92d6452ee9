#include "decoding/transcriber.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "decoding/batched.h"
#include "decoding/decode_plan.h"
#include "decoding/sequential.h"
#include "vad/speech_timestamps.h"

namespace amanuensis::decoding {

namespace {

// Longest chunk the batched pipeline decodes as one window: TranscribeOptions::chunk_length.
double chunk_seconds(const TranscribeOptions& o) { return o.chunk_length.value_or(30); }
// Speech on either side of a removed stretch at least this long is never decoded in one window:
// a segment would otherwise be timed across the stretch (faster-whisper merges it; a segment
// spanning a minute of silence is a wrong subtitle). Shorter gaps are ordinary pauses.
constexpr double kLongGapSeconds = 3.0;

VadOptions vad_options(const TranscribeOptions& o) {
  auto vad = o.vad_parameters.value_or(default_vad_options(o));
  if (o.batch_size > 0) vad.max_speech_duration_s = static_cast<float>(chunk_seconds(o));
  return vad;
}

// Moves a segment's times from the speech-only audio back onto the whole recording
// (faster-whisper's restore_speech_timestamps): each word by the speech span its middle falls
// in, the segment then from its words; without words, the segment's own bounds.
void restore_times(Segment& segment, const vad::SpeechTimestampMap& map) {
  if (segment.words.empty()) {
    // A window starts exactly where a run of speech does (clips_between_long_gaps), and its
    // times come in 10 and 20 ms steps: a start a step before that boundary, or an end a step
    // after the run's end, belongs to the run, not to the speech across the removed silence.
    // And no window holds speech from both sides of a long gap: an end past one (Whisper's last
    // timestamp may lie in the window's padding) is the end of the start's run.
    constexpr double kStep = 0.05;
    const int start_span = map.chunk_index(segment.start + kStep);
    int end_span = std::max(start_span, map.chunk_index(segment.end - kStep, true));
    double end = segment.end;
    for (int span = start_span; span < end_span; ++span) {
      if (map.silence_before(span + 1) - map.silence_before(span) >= kLongGapSeconds) {
        end_span = span;
        end = std::min(end, map.chunk_end(span));
        break;
      }
    }
    segment.start = map.original_time(segment.start, start_span);
    segment.end = map.original_time(end, end_span, true);
    return;
  }
  for (auto& word : segment.words) {
    const int span = map.chunk_index((word.start + word.end) / 2);
    word.start = map.original_time(word.start, span);
    word.end = map.original_time(word.end, span);
  }
  segment.start = segment.words.front().start;
  segment.end = segment.words.back().end;
}

// Whisper's last timestamp may fall after the end of the audio (it counts in whole 20 ms steps,
// and past the end when the audio ends mid-window); no time is reported beyond the recording.
void clamp_times(Segment& segment, double duration) {
  const auto clamp = [&](double& t) { t = std::clamp(t, 0.0, duration); };
  clamp(segment.start);
  clamp(segment.end);
  for (auto& word : segment.words) {
    clamp(word.start);
    clamp(word.end);
  }
}

std::int64_t total_samples(std::span<const SpeechSpan> spans) {
  std::int64_t total = 0;
  for (const auto& span : spans) total += span.end - span.start;
  return total;
}

// The spans in runs separated by long gaps (kLongGapSeconds).
std::vector<std::span<const SpeechSpan>> runs_between_long_gaps(std::span<const SpeechSpan> spans) {
  const auto long_gap = static_cast<std::int64_t>(kLongGapSeconds * kSampleRate);
  std::vector<std::span<const SpeechSpan>> runs;
  std::size_t first = 0;
  for (std::size_t i = 1; i <= spans.size(); ++i) {
    if (i == spans.size() || spans[i].start - spans[i - 1].end >= long_gap) {
      runs.push_back(spans.subspan(first, i - first));
      first = i;
    }
  }
  return runs;
}

// clip_timestamps over the concatenated speech: one clip per run of spans, so that the seek loop
// never puts speech from both sides of a long gap in one window.
std::vector<float> clips_between_long_gaps(std::span<const SpeechSpan> spans) {
  std::vector<float> clips;
  std::int64_t at = 0;
  for (const auto run : runs_between_long_gaps(spans)) {
    clips.push_back(static_cast<float>(static_cast<double>(at) / kSampleRate));
    at += total_samples(run);
    clips.push_back(static_cast<float>(static_cast<double>(at) / kSampleRate));
  }
  return clips;
}

// Pieces of [start, end) samples of at most one chunk each, timed from their own start.
void add_pieces(std::span<const float> audio, std::int64_t start, std::int64_t end,
                double chunk_seconds, std::vector<AudioChunk>& chunks) {
  const auto longest = static_cast<std::int64_t>(chunk_seconds * kSampleRate);
  start = std::clamp<std::int64_t>(start, 0, static_cast<std::int64_t>(audio.size()));
  end = std::clamp<std::int64_t>(end, start, static_cast<std::int64_t>(audio.size()));
  for (auto from = start; from < end; from += longest) {
    const auto to = std::min(end, from + longest);
    chunks.push_back(
        {{audio.begin() + from, audio.begin() + to}, static_cast<double>(from) / kSampleRate});
  }
}

// The batched pipeline's chunks: the caller's clips, else the VAD's speech merged into chunks of
// at most chunk_length seconds (their times then mapped back through `map`), else plain pieces
// of that length.
std::vector<AudioChunk> batched_chunks(std::span<const float> audio, const TranscribeOptions& o,
                                       std::optional<vad::SpeechTimestampMap>& map,
                                       Transcription& result) {
  std::vector<AudioChunk> chunks;
  const auto& clips = o.clip_timestamps;
  if (!clips.empty()) {
    for (std::size_t i = 0; i < clips.size(); i += 2) {
      const auto start = std::llround(clips[i] * kSampleRate);
      const auto end = i + 1 < clips.size() ? std::llround(clips[i + 1] * kSampleRate)
                                            : static_cast<std::int64_t>(audio.size());
      add_pieces(audio, start, end, chunk_seconds(o), chunks);
    }
  } else if (o.vad_filter.value_or(true)) {
    const auto spans = detect_speech(audio, vad_options(o), o.vad_model);
    // faster-whisper's chunks, each cut further where it holds speech from both sides of a long
    // gap; every other chunk (and so its text) stays as faster-whisper's.
    for (const auto& chunk : vad::collect_chunks(spans, chunk_seconds(o))) {
      if (chunk.samples == 0) continue;
      std::int64_t offset = chunk.offset;  // of the run in the concatenated speech
      for (const auto run : runs_between_long_gaps(chunk.spans)) {
        chunks.push_back(
            {vad::gather_speech(audio, run), static_cast<double>(offset) / kSampleRate});
        offset += total_samples(run);
      }
    }
    map.emplace(spans);
  } else {
    add_pieces(audio, 0, static_cast<std::int64_t>(audio.size()), chunk_seconds(o), chunks);
  }
  std::size_t kept = 0;
  for (const auto& chunk : chunks) kept += chunk.samples.size();
  result.duration_after_vad = static_cast<double>(kept) / kSampleRate;
  return chunks;
}

}  // namespace

float compression_ratio(const std::string& text) {
  if (text.empty()) return 0.0F;
  uLongf compressed_size = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> compressed(compressed_size);
  compress2(compressed.data(), &compressed_size, reinterpret_cast<const Bytef*>(text.data()),
            static_cast<uLong>(text.size()), Z_DEFAULT_COMPRESSION);
  return static_cast<float>(text.size()) / static_cast<float>(compressed_size);
}

Transcription transcribe(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop,
                         const InfoCallback& on_info) {
  if (audio.empty()) throw Error("the audio is empty");
  validate(options, is_multilingual(decoder.model().weights()));
  Transcription result;
  result.duration = static_cast<double>(audio.size()) / kSampleRate;
  result.duration_after_vad = result.duration;

  std::optional<vad::SpeechTimestampMap> map;  // set when only the speech is transcribed
  const SegmentSink sink = [&](Segment segment) {
    if (map) restore_times(segment, *map);
    clamp_times(segment, result.duration);
    segment.id = static_cast<int>(result.segments.size()) + 1;
    if (on_segment) on_segment(segment);
    result.segments.push_back(std::move(segment));
  };
  const std::function<void()> settled = [&] {
    if (on_info) on_info(result);
  };

  if (options.batch_size > 0) {
    const auto chunks = batched_chunks(audio, options, map, result);
    transcribe_batched(decoder, tokenizer, chunks, options, sink, settled, stop, result);
  } else if (options.vad_filter.value_or(false) && options.clip_timestamps.empty()) {
    const auto spans = detect_speech(audio, vad_options(options), options.vad_model);
    result.duration_after_vad = static_cast<double>(total_samples(spans)) / kSampleRate;
    if (spans.empty()) {
      // No speech: no segments; the language as the batched pipeline settles it on nothing.
      transcribe_batched(decoder, tokenizer, {}, options, sink, settled, stop, result);
      return result;
    }
    map.emplace(spans);
    const auto speech = vad::gather_speech(audio, spans);
    auto speech_options = options;
    speech_options.clip_timestamps = clips_between_long_gaps(spans);
    transcribe_sequential(decoder, tokenizer, speech, speech_options, sink, settled, stop, result);
  } else {
    transcribe_sequential(decoder, tokenizer, audio, options, sink, settled, stop, result);
  }
  return result;
}

Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop,
                         const InfoCallback& on_info) {
  model::DecodeBatcher alone(model);
  return transcribe(alone, tokenizer, audio, options, on_segment, stop, on_info);
}

}  // namespace amanuensis::decoding
