#include "decoding/batched.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "decoding/decode_plan.h"
#include "decoding/search.h"
#include "decoding/token_logprobs.h"
#include "decoding/transcriber.h"
#include "decoding/window_language.h"
#include "decoding/word_timing.h"
#include "features/log_mel.h"
#include "util/text.h"

namespace amanuensis::decoding {

namespace {

using util::strip;

// faster-whisper fills the features of an empty stretch with this before detecting a language.
constexpr float kEmptyFeature = -1.5F;

// The chunk's features without their last frame (the padding frame), as faster-whisper's
// BatchedInferencePipeline takes them.
features::LogMel chunk_features(const AudioChunk& chunk, const model::WhisperModel& model) {
  auto mel = features::compute_log_mel(chunk.samples, model.weights().n_mels, model.backend());
  const int frames = mel.n_frames - 1;
  std::vector<float> trimmed(static_cast<std::size_t>(mel.n_mels) * frames);
  for (int m = 0; m < mel.n_mels; ++m) {
    const auto* row = mel.values.data() + static_cast<std::size_t>(m) * mel.n_frames;
    std::copy(row, row + frames, trimmed.begin() + static_cast<std::ptrdiff_t>(m) * frames);
  }
  return {mel.n_mels, frames, std::move(trimmed)};
}

// Detects the language on the first language_detection_segments windows of the chunks' features
// laid end to end (one empty frame after them), as faster-whisper's batched pipeline does.
void detect_batched_language(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                             std::span<const AudioChunk> chunks, const TranscribeOptions& options,
                             const std::stop_token& stop, Transcription& result) {
  const auto& model = decoder.model();
  const int n_mels = model.weights().n_mels;
  const int window_frames = model.window_frames();
  std::vector<std::vector<float>> rows(static_cast<std::size_t>(n_mels));
  for (const auto& chunk : chunks) {
    if (static_cast<int>(rows[0].size()) >= options.language_detection_segments * window_frames)
      break;
    const auto mel = chunk_features(chunk, model);
    for (int m = 0; m < n_mels; ++m) {
      const auto* row = mel.values.data() + static_cast<std::size_t>(m) * mel.n_frames;
      rows[m].insert(rows[m].end(), row, row + mel.n_frames);
    }
  }
  features::LogMel joined{n_mels, 0, {}};
  for (auto& row : rows) {
    row.push_back(kEmptyFeature);
    joined.n_frames = static_cast<int>(row.size());
    joined.values.insert(joined.values.end(), row.begin(), row.end());
  }
  auto detected =
      detect_language(decoder, tokenizer, joined, 0, options.language_detection_segments, 0,
                      options.language_detection_threshold, stop, options.languages);
  result.all_language_probs = std::move(detected.all_language_probs);
  result.language = detected.language;
  result.language_probability = detected.probability;
}

// One batch of chunks from features to segments.
class BatchRun {
 public:
  BatchRun(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
           const TranscribeOptions& options, const DecodePlan& plan, const std::stop_token& stop,
           const SegmentSink& sink)
      : decoder_(decoder),
        tokenizer_(tokenizer),
        o_(options),
        plan_(plan),
        languages_(tokenizer, options, plan),
        stop_(stop),
        sink_(sink),
        random_(options.seed) {
    // faster-whisper's batched prompt: the initial prompt as given (no leading space).
    if (!options.initial_prompt.empty()) prompt_tokens_ = tokenizer.encode(options.initial_prompt);
  }

  void run(std::span<const AudioChunk> batch);

 private:
  // Where a chunk's window lies: the frames of its audio, rounded up to whole seconds.
  struct ChunkWindow {
    int seek = 0;    // the chunk's offset in frames (segments report it)
    int frames = 0;  // ceil(duration) seconds of frames
    double offset = 0.0;
    double duration = 0.0;
  };
  void emit(const ChunkWindow& window, const DecodeResult& decoded,
            const std::shared_ptr<const model::CrossAttentionCache>& cross, const DecodePlan& plan);

  model::DecodeBatcher& decoder_;
  const model::Tokenizer& tokenizer_;
  const TranscribeOptions& o_;
  const DecodePlan& plan_;
  WindowLanguage languages_;
  const std::stop_token& stop_;
  const SegmentSink& sink_;
  std::mt19937_64 random_;
  std::vector<int> prompt_tokens_;
  double last_speech_timestamp_ = 0.0;
};

void BatchRun::run(std::span<const AudioChunk> batch) {
  const auto& model = decoder_.model();
  std::vector<std::vector<float>> inputs;
  std::vector<DecodeRequest> requests;
  std::vector<ChunkWindow> windows;
  for (const auto& chunk : batch) {
    if (stop_.stop_requested()) throw Cancelled();
    const auto mel = chunk_features(chunk, model);
    const int frames = std::min(mel.n_frames, model.window_frames());
    inputs.push_back(features::window(mel, 0, frames, model.window_frames()));
    requests.push_back(plan_.request(prompt_tokens_, false, o_.max_new_tokens));
    const double duration = static_cast<double>(chunk.samples.size()) / kSampleRate;
    windows.push_back({static_cast<int>(chunk.offset * kFramesPerSecond),
                       static_cast<int>(std::ceil(duration)) * static_cast<int>(kFramesPerSecond),
                       chunk.offset, duration});
  }
  // The whole batch through the encoder at once, then each window's cross-attention cache.
  std::vector<std::shared_ptr<const model::CrossAttentionCache>> crosses;
  for (const auto& encoded : model.encode_batch(inputs)) {
    crosses.push_back(model.cross_attention_cache(encoded));
  }
  // With multilingual, each chunk in its own language (chunks are decoded on their own: one not
  // sure enough keeps the audio's).
  std::vector<const DecodePlan*> plans(batch.size(), &plan_);
  for (std::size_t i = 0; o_.multilingual && i < batch.size(); ++i) {
    plans[i] = &languages_.plan_for(decoder_, crosses[i], plan_, stop_);
    requests[i] = plans[i]->request(prompt_tokens_, false, o_.max_new_tokens);
  }
  const SearchOptions search{.beam_size = o_.beam_size,
                             .patience = o_.patience,
                             .length_penalty = o_.length_penalty,
                             .temperature = o_.temperatures.front(),
                             .samples = o_.best_of};
  const auto decoded = decode_windows(decoder_, crosses, requests, search, random_, stop_);
  for (std::size_t i = 0; i < batch.size(); ++i)
    emit(windows[i], decoded[i], crosses[i], *plans[i]);
}

void BatchRun::emit(const ChunkWindow& window, const DecodeResult& decoded,
                    const std::shared_ptr<const model::CrossAttentionCache>& cross,
                    const DecodePlan& plan) {
  auto split = split_at_timestamps(tokenizer_.special().timestamp_begin, decoded.tokens,
                                   window.offset, 0, window.frames, window.duration);
  auto& pieces = split.segments;
  if (o_.word_timestamps) {
    const auto timing = plan.word_timing(decoder_, tokenizer_, o_, cross, stop_);
    last_speech_timestamp_ =
        add_word_timestamps(timing, pieces, window.seek, window.frames, last_speech_timestamp_);
  }
  const auto round3 = [](double t) { return std::round(t * 1000.0) / 1000.0; };
  TokenLogprobCursor logprobs(tokenizer_, decoded);
  for (auto& piece : pieces) {
    auto token_logprobs = o_.logprobs ? logprobs.next(piece.tokens) : std::vector<TokenLogprob>{};
    auto text = tokenizer_.decode(piece.tokens);
    if (strip(text).empty()) continue;
    const float ratio = compression_ratio(text);
    auto segment = to_segment(std::move(piece), std::move(text), window.seek);
    segment.start = round3(segment.start);
    segment.end = round3(segment.end);
    segment.temperature = o_.temperatures.front();
    segment.avg_logprob = static_cast<float>(decoded.avg_logprob);
    segment.compression_ratio = ratio;
    segment.no_speech_prob = decoded.no_speech_prob;
    if (o_.multilingual) segment.language = plan.language;
    segment.logprobs = std::move(token_logprobs);
    sink_(std::move(segment));
  }
}

}  // namespace

void transcribe_batched(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                        std::span<const AudioChunk> chunks, const TranscribeOptions& options,
                        const SegmentSink& sink, const std::function<void()>& settled,
                        const std::stop_token& stop, Transcription& result) {
  const auto& weights = decoder.model().weights();
  result.language = options.language;
  if (!is_multilingual(weights)) {
    result.language = "en";
  } else if (result.language.empty()) {
    detect_batched_language(decoder, tokenizer, chunks, options, stop, result);
  }
  settled();
  if (chunks.empty()) return;
  // The batched pipeline has no forced prefix (hotwords apply whatever the prefix), and its first
  // timestamp may only be 0 (faster-whisper sets max_initial_timestamp=0.0 there).
  auto batch_options = options;
  batch_options.prefix.clear();
  batch_options.max_initial_timestamp = 0.0F;
  const auto plan = make_plan(weights, tokenizer, batch_options, result.language,
                              options.without_timestamps.value_or(true));
  BatchRun run(decoder, tokenizer, options, plan, stop, sink);
  const auto batch_size = static_cast<std::size_t>(options.batch_size);
  for (std::size_t first = 0; first < chunks.size(); first += batch_size) {
    run.run(chunks.subspan(first, std::min(batch_size, chunks.size() - first)));
  }
}

}  // namespace amanuensis::decoding
