#include "decoding/sequential.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "decoding/decode_plan.h"
#include "decoding/hallucination.h"
#include "decoding/search.h"
#include "decoding/segment_split.h"
#include "decoding/token_logprobs.h"
#include "decoding/transcriber.h"
#include "decoding/window_language.h"
#include "decoding/word_timing.h"
#include "features/log_mel.h"
#include "util/text.h"

namespace amanuensis::decoding {

namespace {

using util::strip;

struct WindowDecode {
  DecodeResult result;
  float temperature = 0.0F;
  float compression_ratio = 0.0F;
};

// Whether a decode fails the quality checks and another temperature should be tried; records in
// `repetitive` whether it failed for repetition.
bool needs_fallback(const WindowDecode& decode, const TranscribeOptions& o, bool& repetitive) {
  const auto& r = decode.result;
  bool fallback = false;
  repetitive =
      o.compression_ratio_threshold && decode.compression_ratio > *o.compression_ratio_threshold;
  if (repetitive) fallback = true;
  if (o.log_prob_threshold && r.avg_logprob < *o.log_prob_threshold) fallback = true;
  if (o.no_speech_threshold && r.no_speech_prob > *o.no_speech_threshold && o.log_prob_threshold &&
      r.avg_logprob < *o.log_prob_threshold) {
    fallback = false;  // silence: nothing better will come of another try
  }
  return fallback;
}

// Decodes a window at each temperature in turn until the result passes the quality checks
// (faster-whisper's generate_with_fallback).
WindowDecode decode_with_fallback(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                                  const std::shared_ptr<const model::CrossAttentionCache>& cross,
                                  const DecodeRequest& request, const TranscribeOptions& o,
                                  std::mt19937_64& random, const std::stop_token& stop) {
  std::vector<WindowDecode> all;
  std::vector<std::size_t> below_compression_threshold;
  for (const float temperature : o.temperatures) {
    const SearchOptions search{.beam_size = o.beam_size,
                               .patience = o.patience,
                               .length_penalty = o.length_penalty,
                               .temperature = temperature,
                               .samples = o.best_of};
    WindowDecode decode;
    decode.result = decode_window(decoder, cross, request, search, random, stop);
    decode.temperature = temperature;
    decode.compression_ratio = compression_ratio(strip(tokenizer.decode(decode.result.tokens)));
    bool repetitive = false;
    const bool fallback = needs_fallback(decode, o, repetitive);
    if (!repetitive) below_compression_threshold.push_back(all.size());
    all.push_back(std::move(decode));
    if (!fallback) return std::move(all.back());
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

// Seek ranges [start, end) in frames from clip_timestamps; the whole audio when empty.
std::vector<std::pair<int, int>> seek_clips(const std::vector<float>& clip_timestamps,
                                            int content_frames) {
  std::vector<int> points;
  points.reserve(clip_timestamps.size() + 1);
  for (const float t : clip_timestamps)
    points.push_back(static_cast<int>(std::lround(t * kFramesPerSecond)));
  if (points.empty()) points.push_back(0);
  if (points.size() % 2 == 1) points.push_back(content_frames);
  std::vector<std::pair<int, int>> clips;
  clips.reserve(points.size() / 2);
  for (std::size_t i = 0; i < points.size(); i += 2) clips.emplace_back(points[i], points[i + 1]);
  return clips;
}

// The seek loop of faster-whisper's generate_segments, one named step per stage.
class SequentialRun {
 public:
  SequentialRun(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                const features::LogMel& mel, const TranscribeOptions& options,
                const DecodePlan& plan, const std::stop_token& stop, const SegmentSink& sink)
      : decoder_(decoder),
        tokenizer_(tokenizer),
        mel_(mel),
        o_(options),
        plan_(&plan),
        languages_(tokenizer, options, plan),
        stop_(stop),
        sink_(sink),
        content_frames_(mel.n_frames - 1),
        clips_(seek_clips(options.clip_timestamps, content_frames_)),
        random_(options.seed) {
    if (!options.initial_prompt.empty())
      all_tokens_ = tokenizer.encode(util::with_leading_space(options.initial_prompt));
    const int vocabulary = decoder.model().weights().n_vocab;
    for (const int id : options.initial_prompt_tokens) {
      if (id < 0 || id >= vocabulary) {
        throw Error("initial_prompt token ids must be between 0 and " +
                    std::to_string(vocabulary - 1) + ", not " + std::to_string(id));
      }
    }
    if (!options.initial_prompt_tokens.empty()) all_tokens_ = options.initial_prompt_tokens;
  }

  // `encoder_output`: the first window's, when language detection computed it already.
  void run(std::vector<float> encoder_output);

 private:
  bool next_window(WindowBounds& window);
  [[nodiscard]] bool is_silent(const DecodeResult& r) const;
  // Times the words of the window's segments and moves `seek_` after the last word; returns
  // false when the window turned out a hallucination to skip entirely.
  bool time_words(const WindowBounds& window, const WindowSplit& split,
                  const std::shared_ptr<const model::CrossAttentionCache>& cross,
                  std::vector<SegmentDraft>& pieces);
  void emit(std::vector<SegmentDraft>& pieces, const WindowDecode& decoded, int window_seek);

  model::DecodeBatcher& decoder_;
  const model::Tokenizer& tokenizer_;
  const features::LogMel& mel_;
  const TranscribeOptions& o_;
  const DecodePlan* plan_;  // the current window's (its language's, with multilingual)
  WindowLanguage languages_;
  const std::stop_token& stop_;
  const SegmentSink& sink_;
  const int content_frames_;
  const std::vector<std::pair<int, int>> clips_;
  std::mt19937_64 random_;
  std::vector<int> all_tokens_;  // every emitted segment's tokens: the prompt of later windows
  std::size_t prompt_reset_since_ = 0;
  double last_speech_timestamp_ = 0.0;
  std::size_t clip_index_ = 0;
  int seek_ = 0;
};

bool SequentialRun::next_window(WindowBounds& window) {
  while (clip_index_ < clips_.size()) {
    const int clip_end = std::min(clips_[clip_index_].second, content_frames_);
    seek_ = std::max(seek_, clips_[clip_index_].first);
    if (seek_ < clip_end) {
      const int window_frames = chunk_frames(o_, decoder_.model());
      window.seek = seek_;
      window.start = seek_ * kSecondsPerFrame;
      window.end_time = (seek_ + window_frames) * kSecondsPerFrame;
      const int size = std::min({window_frames, content_frames_ - seek_, clip_end - seek_});
      window.frames = size;
      window.duration = size * kSecondsPerFrame;
      window.content_frames = content_frames_;
      window.content_duration = content_frames_ * kSecondsPerFrame;
      return true;
    }
    if (++clip_index_ < clips_.size()) seek_ = clips_[clip_index_].first;
  }
  return false;
}

bool SequentialRun::is_silent(const DecodeResult& r) const {
  return o_.no_speech_threshold && r.no_speech_prob > *o_.no_speech_threshold &&
         !(o_.log_prob_threshold && r.avg_logprob > *o_.log_prob_threshold);
}

bool SequentialRun::time_words(const WindowBounds& window, const WindowSplit& split,
                               const std::shared_ptr<const model::CrossAttentionCache>& cross,
                               std::vector<SegmentDraft>& pieces) {
  const auto timing = plan_->word_timing(decoder_, tokenizer_, o_, cross, stop_);
  last_speech_timestamp_ =
      add_word_timestamps(timing, pieces, window.seek, window.frames, last_speech_timestamp_);
  if (!split.single_timestamp_ending) {
    // Resume right after the last word rather than at the last timestamp.
    const SegmentDraft* last_with_words = nullptr;
    for (const auto& piece : pieces) {
      if (!piece.words.empty()) last_with_words = &piece;
    }
    if (last_with_words != nullptr && last_with_words->words.back().end > window.start) {
      seek_ = static_cast<int>(std::lround(last_with_words->words.back().end * kFramesPerSecond));
    }
  }
  if (!o_.hallucination_silence_threshold) return true;
  const auto skip = skip_hallucinations(pieces, *o_.hallucination_silence_threshold, window,
                                        last_speech_timestamp_);
  if (skip.seek) seek_ = *skip.seek;
  return !skip.skip_window;
}

void SequentialRun::emit(std::vector<SegmentDraft>& pieces, const WindowDecode& decoded,
                         int window_seek) {
  const auto& r = decoded.result;
  TokenLogprobCursor logprobs(tokenizer_, r);
  for (auto& piece : pieces) {
    auto token_logprobs = o_.logprobs ? logprobs.next(piece.tokens) : std::vector<TokenLogprob>{};
    auto text = tokenizer_.decode(piece.tokens);
    if (piece.start == piece.end || strip(text).empty()) continue;
    all_tokens_.insert(all_tokens_.end(), piece.tokens.begin(), piece.tokens.end());
    auto segment = to_segment(std::move(piece), std::move(text), window_seek);
    segment.temperature = decoded.temperature;
    segment.avg_logprob = static_cast<float>(r.avg_logprob);
    segment.compression_ratio = decoded.compression_ratio;
    segment.no_speech_prob = r.no_speech_prob;
    if (o_.multilingual) segment.language = plan_->language;
    segment.logprobs = std::move(token_logprobs);
    sink_(std::move(segment));
  }
  if (!o_.condition_on_previous_text || decoded.temperature > o_.prompt_reset_on_temperature) {
    prompt_reset_since_ = all_tokens_.size();
  }
}

void SequentialRun::run(std::vector<float> encoder_output) {
  const auto& model = decoder_.model();
  WindowBounds window;
  seek_ = clips_.front().first;
  while (next_window(window)) {
    if (stop_.stop_requested()) throw Cancelled();
    const int size = window.frames;
    if (window.seek > 0 || encoder_output.empty()) {
      encoder_output =
          model.encode(features::window(mel_, window.seek, size, model.window_frames()));
    }
    const auto cross = model.cross_attention_cache(encoder_output);
    const DecodePlan* previous_plan = plan_;
    plan_ = &languages_.plan_for(decoder_, cross, *plan_, stop_);
    // Text in another language is a poor prompt: the model tends to copy or translate it.
    if (plan_->language != previous_plan->language) prompt_reset_since_ = all_tokens_.size();
    const std::span<const int> previous(
        all_tokens_.begin() + static_cast<std::ptrdiff_t>(prompt_reset_since_), all_tokens_.end());
    const auto request = plan_->request(previous, window.seek == 0, o_.max_new_tokens);
    const auto decoded =
        decode_with_fallback(decoder_, tokenizer_, cross, request, o_, random_, stop_);
    if (is_silent(decoded.result)) {
      seek_ += size;  // silence: skip the window
      continue;
    }
    auto split = split_at_timestamps(tokenizer_.special().timestamp_begin, decoded.result.tokens,
                                     window.start, window.seek, size, window.duration);
    seek_ = split.next_seek;
    if (o_.word_timestamps && !time_words(window, split, cross, split.segments)) continue;
    emit(split.segments, decoded, window.seek);
  }
}

}  // namespace

void transcribe_sequential(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                           std::span<const float> audio, const TranscribeOptions& options,
                           const SegmentSink& sink, const std::function<void()>& settled,
                           const std::stop_token& stop, Transcription& result) {
  const auto& model = decoder.model();
  const auto& weights = model.weights();
  // With multilingual, each window is heard as if alone (features::Floor::kEachWindow): a window
  // in one language then decodes as that stretch would by itself, whatever is loud elsewhere.
  const auto floor = options.multilingual && is_multilingual(weights) ? features::Floor::kEachWindow
                                                                      : features::Floor::kRecording;
  const auto mel = features::compute_log_mel(audio, weights.n_mels, model.backend(), floor);
  const int content_frames = mel.n_frames - 1;
  const int window_frames = chunk_frames(options, model);

  std::vector<float> encoder_output;
  std::string language = options.language;
  if (!is_multilingual(weights)) {
    language = "en";
  } else if (language.empty()) {
    const auto clips = seek_clips(options.clip_timestamps, content_frames);
    const int first = std::min(clips.front().first, std::max(0, content_frames - 1));
    auto detected = detect_language(decoder, tokenizer, mel, first,
                                    options.language_detection_segments, window_frames,
                                    options.language_detection_threshold, stop, options.languages);
    encoder_output = std::move(detected.first_encoder_output);
    result.all_language_probs = std::move(detected.all_language_probs);
    language = detected.language;
    result.language_probability = detected.probability;
    // faster-whisper detects on a window that also holds the final (padding) frame, then
    // encodes again for decoding, the first window cut at its clip's end; the two differ only
    // when the audio or that clip ends inside the window.
    const int first_end = std::min(clips.front().second, content_frames);
    if (first != 0 || first_end - first < window_frames) encoder_output.clear();
  }
  result.language = language;
  settled();
  const auto plan =
      make_plan(weights, tokenizer, options, language, options.without_timestamps.value_or(false));
  SequentialRun(decoder, tokenizer, mel, options, plan, stop, sink).run(std::move(encoder_output));
}

}  // namespace amanuensis::decoding
