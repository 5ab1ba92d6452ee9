#include "decoding/transcriber.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "decoding/greedy_decoder.h"
#include "features/log_mel.h"

namespace amanuensis::decoding {

namespace {

constexpr double kSecondsPerFrame = static_cast<double>(features::kHopLength) / kSampleRate;
constexpr double kSecondsPerTimestamp = 0.02;
constexpr int kFramesPerTimestamp = 2;

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

std::string strip(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n\r\f\v");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  return text.substr(first, last - first + 1);
}

struct TimedTokens {
  double start = 0.0;
  double end = 0.0;
  std::vector<int> tokens;
};

// Cuts one window's tokens into segments and returns them with the frame to seek to next.
std::pair<std::vector<TimedTokens>, int> split_at_timestamps(const model::Tokenizer& tokenizer,
                                                             const std::vector<int>& tokens,
                                                             int seek, int window_size) {
  const int timestamp_begin = tokenizer.special().timestamp_begin;
  const double time_offset = seek * kSecondsPerFrame;
  const auto n = tokens.size();
  const bool single_timestamp_ending =
      n >= 2 && tokens[n - 2] < timestamp_begin && tokens[n - 1] >= timestamp_begin;

  std::vector<std::size_t> cuts;  // a cut falls between two consecutive timestamps
  for (std::size_t i = 1; i < n; ++i) {
    if (tokens[i] >= timestamp_begin && tokens[i - 1] >= timestamp_begin) cuts.push_back(i);
  }

  std::vector<TimedTokens> segments;
  if (cuts.empty()) {
    double duration = window_size * kSecondsPerFrame;
    const auto last_timestamp = std::find_if(tokens.rbegin(), tokens.rend(),
                                             [&](int t) { return t >= timestamp_begin; });
    if (last_timestamp != tokens.rend() && *last_timestamp != timestamp_begin) {
      duration = (*last_timestamp - timestamp_begin) * kSecondsPerTimestamp;
    }
    segments.push_back({time_offset, time_offset + duration, tokens});
    return {segments, seek + window_size};
  }

  if (single_timestamp_ending) cuts.push_back(n);
  std::size_t previous = 0;
  for (const auto cut : cuts) {
    const std::vector<int> slice(tokens.begin() + static_cast<std::ptrdiff_t>(previous),
                                 tokens.begin() + static_cast<std::ptrdiff_t>(cut));
    segments.push_back({time_offset + (slice.front() - timestamp_begin) * kSecondsPerTimestamp,
                        time_offset + (slice.back() - timestamp_begin) * kSecondsPerTimestamp, slice});
    previous = cut;
  }
  // With a single timestamp at the end, the speech ended inside the window: move past it.
  // Otherwise the last segment is unfinished: decode again from its start.
  const int next_seek = single_timestamp_ending
                            ? seek + window_size
                            : seek + (tokens[previous - 1] - timestamp_begin) * kFramesPerTimestamp;
  return {segments, next_seek};
}

// The user's list, with -1 standing for the model's non-speech tokens, plus the special tokens
// that must never appear inside a transcript.
std::vector<int> suppressed_tokens(const model::WhisperWeights& weights,
                                   const model::SpecialTokens& special, const std::vector<int>& requested) {
  std::set<int> ids = {special.transcribe,    special.translate,   special.start_of_transcript,
                       special.start_of_prev, special.start_of_lm, special.no_speech};
  for (const int id : requested) {
    if (id == -1) ids.insert(weights.config.suppress_ids.begin(), weights.config.suppress_ids.end());
    ids.insert(id);
  }
  std::erase_if(ids, [&](int id) { return id < 0 || id >= weights.n_vocab; });
  return {ids.begin(), ids.end()};
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

std::vector<std::pair<std::string, float>> detect_language(const model::WhisperModel& model,
                                                           const model::Tokenizer& tokenizer,
                                                           std::span<const float> encoder_output) {
  const auto& lang_ids = model.weights().config.lang_ids;
  if (lang_ids.empty()) throw Error("the model's config.json lists no languages (lang_ids)");
  auto state = model.start_decoding(encoder_output);
  const int start[] = {tokenizer.special().start_of_transcript};
  const int at[] = {0};
  const auto logits = model.decode(state, start, at);
  float max_logit = -INFINITY;
  for (const int id : lang_ids) max_logit = std::max(max_logit, logits[id]);
  double total = 0.0;
  for (const int id : lang_ids) total += std::exp(static_cast<double>(logits[id] - max_logit));
  std::vector<std::pair<std::string, float>> probabilities;
  for (const int id : lang_ids) {
    probabilities.emplace_back(tokenizer.language_code(id),
                               static_cast<float>(std::exp(static_cast<double>(logits[id] - max_logit)) / total));
  }
  std::stable_sort(probabilities.begin(), probabilities.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return probabilities;
}

Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop) {
  if (audio.empty()) throw Error("the audio is empty");
  const auto& weights = model.weights();
  const auto& special = tokenizer.special();
  const bool multilingual = weights.n_vocab >= 51865;
  const int window_frames = model.window_frames();
  const int context = weights.n_text_ctx;

  const auto mel = features::compute_log_mel(audio, weights.n_mels, model.backend());
  const int content_frames = mel.n_frames - 1;

  Transcription result;
  result.duration = static_cast<double>(audio.size()) / kSampleRate;

  std::vector<int> start_sequence = {special.start_of_transcript};
  std::vector<float> encoder_output;
  if (multilingual) {
    std::string language = options.language;
    if (language.empty()) {
      encoder_output = model.encode(features::window(mel, 0, window_frames, window_frames));
      language = detect_language(model, tokenizer, encoder_output).front().first;
    }
    const auto language_token = tokenizer.language_token(language);
    if (!language_token) throw Error("unknown language code '" + language + "'");
    start_sequence.push_back(*language_token);
    start_sequence.push_back(special.transcribe);
    result.language = language;
  } else {
    if (!options.language.empty() && options.language != "en") {
      throw Error("this model is English-only; it cannot transcribe language '" + options.language + "'");
    }
    result.language = "en";
  }

  DecodeRequest request;
  request.no_speech_token = special.no_speech;
  request.end_of_text = special.end_of_text;
  request.suppressed = suppressed_tokens(weights, special, options.suppress_tokens);
  if (options.suppress_blank) request.suppressed_first = weights.config.suppress_ids_begin;
  request.timestamp_rules = TimestampRules{
      special.end_of_text, special.no_timestamps, special.timestamp_begin, weights.n_vocab - 1,
      special.timestamp_begin +
          static_cast<int>(std::lround(options.max_initial_timestamp / kSecondsPerTimestamp))};

  std::vector<int> all_tokens;  // every emitted segment's tokens, the prompt of later windows
  int seek = 0;
  while (seek < content_frames) {
    if (stop.stop_requested()) throw Cancelled();
    const int window_size = std::min(window_frames, content_frames - seek);
    if (seek > 0 || encoder_output.empty()) {
      encoder_output = model.encode(features::window(mel, seek, window_size, window_frames));
    }

    request.prompt.clear();
    if (options.condition_on_previous_text && !all_tokens.empty()) {
      // Whisper keeps at most half the context for previous text.
      const auto keep = std::min<std::size_t>(all_tokens.size(), context / 2 - 1);
      request.prompt.push_back(special.start_of_prev);
      request.prompt.insert(request.prompt.end(), all_tokens.end() - static_cast<std::ptrdiff_t>(keep),
                            all_tokens.end());
    }
    request.start_of_transcript_index = static_cast<int>(request.prompt.size());
    request.prompt.insert(request.prompt.end(), start_sequence.begin(), start_sequence.end());

    auto state = model.start_decoding(encoder_output);
    const auto decoded = greedy_decode(model, state, request);

    const bool no_speech = options.no_speech_threshold &&
                           decoded.no_speech_prob > *options.no_speech_threshold &&
                           !(options.log_prob_threshold && decoded.avg_logprob > *options.log_prob_threshold);
    if (no_speech) {
      seek += window_size;
      continue;
    }

    const int window_seek = seek;
    auto [pieces, next_seek] = split_at_timestamps(tokenizer, decoded.tokens, seek, window_size);
    seek = next_seek;
    const float ratio = compression_ratio(strip(tokenizer.decode(decoded.tokens)));
    for (auto& piece : pieces) {
      auto text = tokenizer.decode(piece.tokens);
      if (piece.start == piece.end || is_blank(text)) continue;
      all_tokens.insert(all_tokens.end(), piece.tokens.begin(), piece.tokens.end());
      Segment segment;
      segment.id = static_cast<int>(result.segments.size()) + 1;
      segment.seek = window_seek;
      segment.start = piece.start;
      segment.end = piece.end;
      segment.text = std::move(text);
      segment.tokens = std::move(piece.tokens);
      segment.avg_logprob = static_cast<float>(decoded.avg_logprob);
      segment.compression_ratio = ratio;
      segment.no_speech_prob = decoded.no_speech_prob;
      if (on_segment) on_segment(segment);
      result.segments.push_back(std::move(segment));
    }
  }
  return result;
}

}  // namespace amanuensis::decoding
