#include "decoding/transcriber.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "decoding/search.h"
#include "decoding/word_timing.h"
#include "features/log_mel.h"
#include "util/text.h"

namespace amanuensis::decoding {

namespace {

constexpr double kSecondsPerFrame = static_cast<double>(features::kHopLength) / kSampleRate;
constexpr double kFramesPerSecond = 1.0 / kSecondsPerFrame;
constexpr double kSecondsPerTimestamp = 0.02;
constexpr int kFramesPerTimestamp = 2;
constexpr int kMultilingualVocabulary = 51865;
// Written without spaces between words: word timings split at characters instead.
const std::set<std::string> kLanguagesWithoutSpaces = {"zh", "ja", "th", "lo", "my", "yue"};

using util::strip;

void validate(const TranscribeOptions& o, bool multilingual) {
  const auto fail = [](const std::string& message) { throw Error("invalid option: " + message); };
  if (o.task != "transcribe" && o.task != "translate")
    fail("task must be transcribe or translate, not '" + o.task + "'");
  if (o.task == "translate" && !multilingual)
    fail("this model is English-only and cannot translate");
  if (o.beam_size < 1) fail("beam_size must be at least 1");
  if (o.best_of < 1) fail("best_of must be at least 1");
  if (!(o.patience > 0.0F)) fail("patience must be positive");
  if (o.temperatures.empty()) fail("temperature needs at least one value");
  for (const float t : o.temperatures) {
    if (!(t >= 0.0F) || !std::isfinite(t)) fail("temperatures must be finite and non-negative");
  }
  if (o.max_new_tokens && *o.max_new_tokens < 1) fail("max_new_tokens must be positive");
  for (const float t : o.clip_timestamps) {
    if (!(t >= 0.0F) || !std::isfinite(t)) fail("clip_timestamps must be non-negative seconds");
  }
  if (!std::isfinite(o.max_initial_timestamp) || o.max_initial_timestamp < 0.0F) {
    fail("max_initial_timestamp must be non-negative");
  }
}

// Cuts one window's tokens into segments at consecutive timestamp pairs and returns them with
// the frame to seek to next (faster-whisper's _split_segments_by_timestamps).
struct WindowSplit {
  std::vector<SegmentDraft> segments;
  int next_seek = 0;
  bool single_timestamp_ending = false;
};

WindowSplit split_at_timestamps(const model::Tokenizer& tokenizer, const std::vector<int>& tokens,
                                int seek, int window_size) {
  const int timestamp_begin = tokenizer.special().timestamp_begin;
  const double time_offset = seek * kSecondsPerFrame;
  const auto n = tokens.size();
  WindowSplit split;
  split.single_timestamp_ending =
      n >= 2 && tokens[n - 2] < timestamp_begin && tokens[n - 1] >= timestamp_begin;

  std::vector<std::size_t> cuts;  // a cut falls between two consecutive timestamps
  for (std::size_t i = 1; i < n; ++i) {
    if (tokens[i] >= timestamp_begin && tokens[i - 1] >= timestamp_begin) cuts.push_back(i);
  }
  if (cuts.empty()) {
    double duration = window_size * kSecondsPerFrame;
    const auto last_timestamp =
        std::find_if(tokens.rbegin(), tokens.rend(), [&](int t) { return t >= timestamp_begin; });
    if (last_timestamp != tokens.rend() && *last_timestamp != timestamp_begin) {
      duration = (*last_timestamp - timestamp_begin) * kSecondsPerTimestamp;
    }
    split.segments.push_back({time_offset, time_offset + duration, tokens, {}});
    split.next_seek = seek + window_size;
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
                        ? seek + window_size
                        : seek + (tokens[previous - 1] - timestamp_begin) * kFramesPerTimestamp;
  return split;
}

// The user's list, with -1 standing for the model's non-speech tokens, plus the special tokens
// that must never appear inside a transcript.
std::vector<int> suppressed_tokens(const model::WhisperWeights& weights,
                                   const model::SpecialTokens& special,
                                   const std::vector<int>& requested) {
  std::set<int> ids = {special.transcribe,    special.translate,   special.start_of_transcript,
                       special.start_of_prev, special.start_of_lm, special.no_speech};
  for (const int id : requested) {
    if (id == -1)
      ids.insert(weights.config.suppress_ids.begin(), weights.config.suppress_ids.end());
    ids.insert(id);
  }
  std::erase_if(ids, [&](int id) { return id < 0 || id >= weights.n_vocab; });
  return {ids.begin(), ids.end()};
}

struct WindowDecode {
  DecodeResult result;
  float temperature = 0.0F;
  float compression_ratio = 0.0F;
};

// Decodes a window at each temperature in turn until the result passes the quality checks
// (faster-whisper's generate_with_fallback).
WindowDecode decode_with_fallback(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                                  const std::shared_ptr<const model::CrossAttentionCache>& cross,
                                  const DecodeRequest& request, const TranscribeOptions& o,
                                  std::mt19937_64& random, const std::stop_token& stop) {
  std::vector<WindowDecode> all;
  std::vector<std::size_t> below_compression_threshold;
  for (const float temperature : o.temperatures) {
    SearchOptions search{.beam_size = o.beam_size,
                         .patience = o.patience,
                         .length_penalty = o.length_penalty,
                         .temperature = temperature,
                         .samples = o.best_of};
    WindowDecode decode;
    decode.result = decode_window(decoder, cross, request, search, random, stop);
    decode.temperature = temperature;
    decode.compression_ratio = compression_ratio(strip(tokenizer.decode(decode.result.tokens)));
    const auto& r = decode.result;

    bool needs_fallback = false;
    if (o.compression_ratio_threshold &&
        decode.compression_ratio > *o.compression_ratio_threshold) {
      needs_fallback = true;  // too repetitive
    } else {
      below_compression_threshold.push_back(all.size());
    }
    if (o.log_prob_threshold && r.avg_logprob < *o.log_prob_threshold) needs_fallback = true;
    if (o.no_speech_threshold && r.no_speech_prob > *o.no_speech_threshold &&
        o.log_prob_threshold && r.avg_logprob < *o.log_prob_threshold) {
      needs_fallback = false;  // silence: nothing better will come of another try
    }
    all.push_back(std::move(decode));
    if (!needs_fallback) return std::move(all.back());
  }
  // Every temperature failed: keep the likeliest, preferring those that are not repetitive.
  auto candidates = std::move(below_compression_threshold);
  if (candidates.empty()) {
    candidates.resize(all.size());
    std::iota(candidates.begin(), candidates.end(), std::size_t{0});
  }
  const auto best = *std::max_element(candidates.begin(), candidates.end(), [&](auto a, auto b) {
    return all[a].result.avg_logprob < all[b].result.avg_logprob;
  });
  auto chosen = std::move(all[best]);
  chosen.temperature = o.temperatures.back();  // drives prompt_reset_on_temperature
  return chosen;
}

// Scores how unlike real speech a word's timing is (faster-whisper's word_anomaly_score).
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

const SegmentDraft* next_with_words(const std::vector<SegmentDraft>& segments, std::size_t from) {
  for (std::size_t i = from; i < segments.size(); ++i) {
    if (!segments[i].words.empty()) return &segments[i];
  }
  return nullptr;
}

// Seek ranges [start, end) in frames from clip_timestamps; the whole audio when empty.
std::vector<std::pair<int, int>> seek_clips(const std::vector<float>& clip_timestamps,
                                            int content_frames) {
  std::vector<int> points;
  for (const float t : clip_timestamps)
    points.push_back(static_cast<int>(std::lround(t * kFramesPerSecond)));
  if (points.empty()) points.push_back(0);
  if (points.size() % 2 == 1) points.push_back(content_frames);
  std::vector<std::pair<int, int>> clips;
  for (std::size_t i = 0; i < points.size(); i += 2) clips.emplace_back(points[i], points[i + 1]);
  return clips;
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

std::vector<std::pair<std::string, float>> detect_language(model::DecodeBatcher& decoder,
                                                           const model::Tokenizer& tokenizer,
                                                           std::span<const float> encoder_output,
                                                           const std::stop_token& stop) {
  const auto& model = decoder.model();
  const auto& lang_ids = model.weights().config.lang_ids;
  if (lang_ids.empty()) throw Error("the model's config.json lists no languages (lang_ids)");
  auto state = model.start_decoding(model.cross_attention_cache(encoder_output));
  const int start[] = {tokenizer.special().start_of_transcript};
  const int at[] = {0};
  const auto logits = model::DecodeBatcher::Session(decoder, stop).decode(state, start, at);
  float max_logit = -INFINITY;
  for (const int id : lang_ids) max_logit = std::max(max_logit, logits[id]);
  double total = 0.0;
  for (const int id : lang_ids) total += std::exp(static_cast<double>(logits[id] - max_logit));
  std::vector<std::pair<std::string, float>> probabilities;
  for (const int id : lang_ids) {
    probabilities.emplace_back(
        tokenizer.language_code(id),
        static_cast<float>(std::exp(static_cast<double>(logits[id] - max_logit)) / total));
  }
  std::stable_sort(probabilities.begin(), probabilities.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return probabilities;
}

Transcription transcribe(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop) {
  if (audio.empty()) throw Error("the audio is empty");
  const auto& model = decoder.model();
  const auto& weights = model.weights();
  const auto& special = tokenizer.special();
  const bool multilingual = weights.n_vocab >= kMultilingualVocabulary;
  validate(options, multilingual);
  const int window_frames = model.window_frames();
  const int context = weights.n_text_ctx;

  const auto mel = features::compute_log_mel(audio, weights.n_mels, model.backend());
  const int content_frames = mel.n_frames - 1;
  const double content_duration = content_frames * kSecondsPerFrame;

  Transcription result;
  result.duration = static_cast<double>(audio.size()) / kSampleRate;

  std::vector<int> start_sequence = {special.start_of_transcript};
  std::vector<float> encoder_output;
  const auto clips = seek_clips(options.clip_timestamps, content_frames);
  if (multilingual) {
    std::string language = options.language;
    if (language.empty()) {
      const int first = std::min(clips.front().first, std::max(0, content_frames - 1));
      encoder_output = model.encode(features::window(mel, first, window_frames, window_frames));
      result.all_language_probs = detect_language(decoder, tokenizer, encoder_output, stop);
      language = result.all_language_probs.front().first;
      result.language_probability = result.all_language_probs.front().second;
      // faster-whisper detects on a window that also holds the final (padding) frame, then
      // encodes again for decoding; the two differ only when the audio ends inside the window.
      if (first != 0 || content_frames - first < window_frames) encoder_output.clear();
    }
    const auto language_token = tokenizer.language_token(language);
    if (!language_token) throw Error("invalid option: unknown language code '" + language + "'");
    start_sequence.push_back(*language_token);
    start_sequence.push_back(options.task == "translate" ? special.translate : special.transcribe);
    result.language = language;
  } else {
    if (!options.language.empty() && options.language != "en") {
      throw Error("invalid option: this model is English-only; it cannot transcribe language '" +
                  options.language + "'");
    }
    result.language = "en";
  }

  DecodeRequest request;
  request.no_speech_token = special.no_speech;
  request.end_of_text = special.end_of_text;
  request.suppressed = suppressed_tokens(weights, special, options.suppress_tokens);
  if (options.suppress_blank) request.suppressed_first = weights.config.suppress_ids_begin;
  if (!options.without_timestamps.value_or(false)) {
    request.timestamp_rules = TimestampRules{
        special.end_of_text, special.no_timestamps, special.timestamp_begin, weights.n_vocab - 1,
        special.timestamp_begin +
            static_cast<int>(std::lround(options.max_initial_timestamp / kSecondsPerTimestamp))};
  }
  // Prompts are limited to half the context, as Whisper was trained.
  const auto prompt_limit = static_cast<std::size_t>(context / 2 - 1);
  const auto limited = [&](std::vector<int> tokens) {
    if (tokens.size() > prompt_limit) tokens.resize(prompt_limit);
    return tokens;
  };
  const auto hotword_tokens = options.hotwords.empty() || !options.prefix.empty()
                                  ? std::vector<int>{}
                                  : limited(tokenizer.encode(" " + strip(options.hotwords)));
  const auto prefix_tokens = options.prefix.empty()
                                 ? std::vector<int>{}
                                 : limited(tokenizer.encode(" " + strip(options.prefix)));

  const WordTimingContext word_context{decoder,
                                       tokenizer,
                                       nullptr,
                                       start_sequence,
                                       kLanguagesWithoutSpaces.contains(result.language),
                                       options.prepend_punctuations,
                                       options.append_punctuations,
                                       stop};

  std::vector<int> all_tokens;  // every emitted segment's tokens: the prompt of later windows
  if (!options.initial_prompt.empty())
    all_tokens = tokenizer.encode(" " + strip(options.initial_prompt));
  std::size_t prompt_reset_since = 0;
  double last_speech_timestamp = 0.0;
  std::mt19937_64 random(options.seed);

  std::size_t clip_index = 0;
  int seek = clips.front().first;
  while (clip_index < clips.size()) {
    if (stop.stop_requested()) throw Cancelled();
    const int clip_start = clips[clip_index].first;
    const int clip_end = std::min(clips[clip_index].second, content_frames);
    seek = std::max(seek, clip_start);
    if (seek >= clip_end) {
      if (++clip_index < clips.size()) seek = clips[clip_index].first;
      continue;
    }
    const double time_offset = seek * kSecondsPerFrame;
    const double window_end_time = (seek + window_frames) * kSecondsPerFrame;
    const int window_size = std::min({window_frames, content_frames - seek, clip_end - seek});
    const double window_duration = window_size * kSecondsPerFrame;
    if (seek > 0 || encoder_output.empty()) {
      encoder_output = model.encode(features::window(mel, seek, window_size, window_frames));
    }
    const auto cross = model.cross_attention_cache(encoder_output);

    // The prompt: previous text (and hotwords), the start sequence, then any forced prefix.
    request.prompt.clear();
    const std::vector<int> previous(
        all_tokens.begin() + static_cast<std::ptrdiff_t>(prompt_reset_since), all_tokens.end());
    if (!previous.empty() || !hotword_tokens.empty()) {
      request.prompt.push_back(special.start_of_prev);
      request.prompt.insert(request.prompt.end(), hotword_tokens.begin(), hotword_tokens.end());
      const auto keep = std::min(previous.size(), prompt_limit);
      request.prompt.insert(request.prompt.end(),
                            previous.end() - static_cast<std::ptrdiff_t>(keep), previous.end());
    }
    request.start_of_transcript_index = static_cast<int>(request.prompt.size());
    request.prompt.insert(request.prompt.end(), start_sequence.begin(), start_sequence.end());
    if (options.without_timestamps.value_or(false)) request.prompt.push_back(special.no_timestamps);
    request.forced.clear();
    if (seek == 0 && !prefix_tokens.empty()) {
      if (!options.without_timestamps.value_or(false)) request.forced.push_back(special.timestamp_begin);
      request.forced.insert(request.forced.end(), prefix_tokens.begin(), prefix_tokens.end());
    }
    const int room = context - static_cast<int>(request.prompt.size() + request.forced.size());
    request.max_new_tokens =
        options.max_new_tokens ? std::min(*options.max_new_tokens, room) : room;

    const auto decoded =
        decode_with_fallback(decoder, tokenizer, cross, request, options, random, stop);
    const auto& r = decoded.result;

    if (options.no_speech_threshold && r.no_speech_prob > *options.no_speech_threshold &&
        !(options.log_prob_threshold && r.avg_logprob > *options.log_prob_threshold)) {
      seek += window_size;  // silence: skip the window
      continue;
    }

    const int previous_seek = seek;
    auto split = split_at_timestamps(tokenizer, r.tokens, seek, window_size);
    seek = split.next_seek;
    auto& pieces = split.segments;

    if (options.word_timestamps) {
      auto timing = word_context;
      timing.cross = cross;
      last_speech_timestamp =
          add_word_timestamps(timing, pieces, previous_seek, window_size, last_speech_timestamp);
      if (!split.single_timestamp_ending) {
        // Resume right after the last word rather than at the last timestamp.
        const SegmentDraft* last_with_words = nullptr;
        for (const auto& piece : pieces) {
          if (!piece.words.empty()) last_with_words = &piece;
        }
        if (last_with_words != nullptr && last_with_words->words.back().end > time_offset) {
          seek =
              static_cast<int>(std::lround(last_with_words->words.back().end * kFramesPerSecond));
        }
      }
      if (options.hallucination_silence_threshold) {
        const double threshold = *options.hallucination_silence_threshold;
        // A likely hallucination after a long silence: skip the silence and decode again.
        const auto* first = next_with_words(pieces, 0);
        if (first != nullptr && is_segment_anomaly(first) &&
            first->start - time_offset > threshold) {
          seek = previous_seek +
                 static_cast<int>(std::lround((first->start - time_offset) * kFramesPerSecond));
          continue;
        }
        double hallucination_last_end = last_speech_timestamp;
        for (std::size_t i = 0; i < pieces.size(); ++i) {
          const auto& piece = pieces[i];
          if (piece.words.empty()) continue;
          if (is_segment_anomaly(&piece)) {
            const auto* next = next_with_words(pieces, i + 1);
            const double next_start =
                next != nullptr ? next->words.front().start : time_offset + window_duration;
            const bool silence_before = piece.start - hallucination_last_end > threshold ||
                                        piece.start < threshold || piece.start - time_offset < 2.0;
            const bool silence_after = next_start - piece.end > threshold ||
                                       is_segment_anomaly(next) ||
                                       window_end_time - piece.end < 2.0;
            if (silence_before && silence_after) {
              seek = static_cast<int>(
                  std::lround(std::max(time_offset + 1, piece.start) * kFramesPerSecond));
              if (content_duration - piece.end < threshold) seek = content_frames;
              pieces.erase(pieces.begin() + static_cast<std::ptrdiff_t>(i), pieces.end());
              break;
            }
          }
          hallucination_last_end = piece.end;
        }
      }
    }

    for (auto& piece : pieces) {
      auto text = tokenizer.decode(piece.tokens);
      if (piece.start == piece.end || strip(text).empty()) continue;
      all_tokens.insert(all_tokens.end(), piece.tokens.begin(), piece.tokens.end());
      Segment segment;
      segment.id = static_cast<int>(result.segments.size()) + 1;
      segment.seek = previous_seek;
      segment.start = piece.start;
      segment.end = piece.end;
      segment.text = std::move(text);
      segment.tokens = std::move(piece.tokens);
      segment.temperature = decoded.temperature;
      segment.avg_logprob = static_cast<float>(r.avg_logprob);
      segment.compression_ratio = decoded.compression_ratio;
      segment.no_speech_prob = r.no_speech_prob;
      for (auto& word : piece.words) {
        segment.words.push_back({word.start, word.end, std::move(word.word), word.probability});
      }
      if (on_segment) on_segment(segment);
      result.segments.push_back(std::move(segment));
    }
    if (!options.condition_on_previous_text ||
        decoded.temperature > options.prompt_reset_on_temperature) {
      prompt_reset_since = all_tokens.size();
    }
  }
  return result;
}

Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop) {
  model::DecodeBatcher alone(model);
  return transcribe(alone, tokenizer, audio, options, on_segment, stop);
}

}  // namespace amanuensis::decoding
