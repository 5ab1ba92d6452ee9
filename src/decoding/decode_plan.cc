#include "decoding/decode_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "util/text.h"

namespace amanuensis::decoding {

namespace {

constexpr int kMultilingualVocabulary = 51865;
constexpr int kMaxBatchSize = 256;
// Written without spaces between words: word timings split at characters instead.
const std::set<std::string> kLanguagesWithoutSpaces = {"zh", "ja", "th", "lo", "my", "yue"};

using util::strip;

void fail(const std::string& message) { throw Error("invalid option: " + message); }

void validate_search(const TranscribeOptions& o) {
  if (o.beam_size < 1) fail("beam_size must be at least 1");
  if (o.best_of < 1) fail("best_of must be at least 1");
  if (!(o.patience > 0.0F)) fail("patience must be positive");
  if (o.temperatures.empty()) fail("temperature needs at least one value");
  for (const float t : o.temperatures) {
    if (!(t >= 0.0F) || !std::isfinite(t)) fail("temperatures must be finite and non-negative");
  }
  if (o.max_new_tokens && *o.max_new_tokens < 1) fail("max_new_tokens must be positive");
  if (!(o.repetition_penalty > 0.0F) || !std::isfinite(o.repetition_penalty))
    fail("repetition_penalty must be a positive number");
  if (o.no_repeat_ngram_size < 0) fail("no_repeat_ngram_size must be 0 (off) or more");
}

std::vector<int> start_sequence(const model::Tokenizer& tokenizer, const TranscribeOptions& o,
                                const std::string& language, bool multilingual) {
  const auto& special = tokenizer.special();
  std::vector<int> sequence = {special.start_of_transcript};
  if (!multilingual) return sequence;
  const auto language_token = tokenizer.language_token(language);
  if (!language_token) throw Error("invalid option: unknown language code '" + language + "'");
  sequence.push_back(*language_token);
  sequence.push_back(o.task == "translate" ? special.translate : special.transcribe);
  return sequence;
}

}  // namespace

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

bool is_multilingual(const model::WhisperWeights& weights) {
  return weights.n_vocab >= kMultilingualVocabulary;
}

void validate(const TranscribeOptions& o, bool multilingual) {
  if (o.task != "transcribe" && o.task != "translate")
    fail("task must be transcribe or translate, not '" + o.task + "'");
  if (o.task == "translate" && !multilingual)
    fail("this model is English-only and cannot translate");
  if (!multilingual && !o.language.empty() && o.language != "en") {
    fail("this model is English-only; it cannot transcribe language '" + o.language + "'");
  }
  validate_search(o);
  for (const float t : o.clip_timestamps) {
    if (!(t >= 0.0F) || !std::isfinite(t)) fail("clip_timestamps must be non-negative seconds");
  }
  if (!std::isfinite(o.max_initial_timestamp) || o.max_initial_timestamp < 0.0F) {
    fail("max_initial_timestamp must be non-negative");
  }
  if (o.batch_size < 0 || o.batch_size > kMaxBatchSize) {
    fail("batch_size must be between 0 (sequential) and " + std::to_string(kMaxBatchSize));
  }
  if (o.batch_size > 0 && !o.prefix.empty()) {
    fail(
        "prefix cannot be used with batch_size > 0 (the batched pipeline decodes every chunk on "
        "its own; faster-whisper's has no prefix either)");
  }
  for (const auto& keyword : o.keywords) {
    try {
      amanuensis::validate(keyword);
    } catch (const Error& e) {
      fail(e.what());
    }
  }
  if (!o.languages.empty() && !o.language.empty() &&
      std::find(o.languages.begin(), o.languages.end(), o.language) == o.languages.end()) {
    fail("language '" + o.language + "' is not among languages");
  }
  if (!multilingual && std::any_of(o.languages.begin(), o.languages.end(),
                                   [](const std::string& l) { return l != "en"; })) {
    fail("this model is English-only; languages can only be en");
  }
  if (o.multilingual && !multilingual)
    fail("this model is English-only; multilingual needs a multilingual model");
  if (o.language_detection_segments < 1) fail("language_detection_segments must be at least 1");
  if (o.chunk_length && (*o.chunk_length < 1 || *o.chunk_length > 30)) {
    fail("chunk_length must be between 1 and 30 seconds (Whisper's window), not " +
         std::to_string(*o.chunk_length));
  }
  if (!std::isfinite(o.language_detection_threshold))
    fail("language_detection_threshold must be a finite number");
  if (!o.initial_prompt_tokens.empty() && !o.initial_prompt.empty())
    fail("initial_prompt is either text or token ids, not both");
  if (o.batch_size > 0 && !o.initial_prompt_tokens.empty()) {
    fail(
        "initial_prompt as token ids cannot be used with batch_size > 0 (faster-whisper's batched "
        "pipeline takes it as text only)");
  }
  if (o.batch_size > 0 && o.hallucination_silence_threshold) {
    fail(
        "hallucination_silence_threshold cannot be used with batch_size > 0 (it needs the "
        "sequential seek loop; the VAD removes silence in batched mode)");
  }
  if (o.vad_filter.value_or(false) && !o.clip_timestamps.empty()) {
    fail(
        "vad_filter and clip_timestamps exclude each other: clip_timestamps already picks the "
        "audio to transcribe");
  }
  if (o.vad_parameters) {
    try {
      amanuensis::validate(*o.vad_parameters);
    } catch (const Error& e) {
      fail(std::string("vad_parameters: ") + e.what());
    }
  }
}

std::vector<int> language_ids(const model::WhisperWeights& weights,
                              const model::Tokenizer& tokenizer,
                              std::span<const std::string> allowed) {
  const auto& lang_ids = weights.config.lang_ids;
  if (lang_ids.empty()) throw Error("the model's config.json lists no languages (lang_ids)");
  if (allowed.empty()) return lang_ids;
  std::vector<int> ids;
  for (const auto& code : allowed) {
    const auto id = tokenizer.language_token(code);
    if (!id || std::find(lang_ids.begin(), lang_ids.end(), *id) == lang_ids.end()) {
      throw Error("languages: '" + code + "' is not a language this model knows");
    }
    if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  }
  return ids;
}

std::vector<std::pair<std::string, float>> detect_language(
    model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
    const std::shared_ptr<const model::CrossAttentionCache>& cross, const std::stop_token& stop,
    std::span<const std::string> allowed) {
  const auto& model = decoder.model();
  const auto ids = language_ids(model.weights(), tokenizer, allowed);
  auto state = model.start_decoding(cross);
  const int start[] = {tokenizer.special().start_of_transcript};
  const int at[] = {0};
  const auto logits = model::DecodeBatcher::Session(decoder, stop).decode(state, start, at);
  float max_logit = -INFINITY;
  for (const int id : ids) max_logit = std::max(max_logit, logits[id]);
  double total = 0.0;
  for (const int id : ids) total += std::exp(static_cast<double>(logits[id] - max_logit));
  // Most probable first, equal ones in token order (a stable order without std::stable_sort,
  // whose libstdc++ 12 buffer clang 22 reports as deprecated).
  std::vector<float> probability(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    probability[i] =
        static_cast<float>(std::exp(static_cast<double>(logits[ids[i]] - max_logit)) / total);
  }
  std::vector<std::size_t> order(ids.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::ranges::sort(order, [&](std::size_t a, std::size_t b) {
    return probability[a] != probability[b] ? probability[a] > probability[b] : a < b;
  });
  std::vector<std::pair<std::string, float>> probabilities;
  probabilities.reserve(ids.size());
  for (const std::size_t i : order) {
    probabilities.emplace_back(tokenizer.language_code(ids[i]), probability[i]);
  }
  return probabilities;
}

int chunk_frames(const TranscribeOptions& options, const model::WhisperModel& model) {
  constexpr int kFramesPerSecond = 100;
  return options.chunk_length
             ? std::min(*options.chunk_length * kFramesPerSecond, model.window_frames())
             : model.window_frames();
}

LanguageDetection detect_language(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                                  const features::LogMel& mel, int first, int segments,
                                  int window_frames, float threshold, const std::stop_token& stop,
                                  std::span<const std::string> allowed) {
  const auto& model = decoder.model();
  window_frames =
      window_frames > 0 ? std::min(window_frames, model.window_frames()) : model.window_frames();
  const int end = std::min(mel.n_frames, first + segments * window_frames);
  LanguageDetection d;
  // Each window's likeliest language and its probability, languages in order of first sight.
  std::vector<std::pair<std::string, std::vector<float>>> votes;
  for (int start = first; start < end || start == first; start += window_frames) {
    auto encoded = model.encode(features::window(mel, start, window_frames, model.window_frames()));
    d.all_language_probs =
        detect_language(decoder, tokenizer, model.cross_attention_cache(encoded), stop, allowed);
    if (start == first) d.first_encoder_output = std::move(encoded);
    const std::string& language = d.all_language_probs.front().first;
    const float probability = d.all_language_probs.front().second;
    if (probability > threshold) {
      d.language = language;
      d.probability = probability;
      return d;
    }
    auto vote = std::find_if(votes.begin(), votes.end(),
                             [&](const auto& v) { return v.first == language; });
    if (vote == votes.end()) vote = votes.insert(votes.end(), {language, {}});
    vote->second.push_back(probability);
  }
  // No window was sure enough: the language likeliest in the most windows (the first seen of
  // those tied), with its highest probability.
  const auto* best = &votes.front();
  for (const auto& v : votes)
    if (v.second.size() > best->second.size()) best = &v;
  d.language = best->first;
  d.probability = *std::max_element(best->second.begin(), best->second.end());
  return d;
}

DecodePlan make_plan(const model::WhisperWeights& weights, const model::Tokenizer& tokenizer,
                     const TranscribeOptions& options, const std::string& language,
                     bool without_timestamps) {
  const auto& special = tokenizer.special();
  DecodePlan plan;
  plan.without_timestamps = without_timestamps;
  plan.language = language;
  plan.split_words_on_characters = kLanguagesWithoutSpaces.contains(language);
  plan.start_sequence = start_sequence(tokenizer, options, language, is_multilingual(weights));
  plan.context = weights.n_text_ctx;
  plan.start_of_prev_token = special.start_of_prev;
  plan.no_timestamps_token = special.no_timestamps;
  plan.timestamp_begin_token = special.timestamp_begin;

  auto& base = plan.base;
  base.no_speech_token = special.no_speech;
  base.end_of_text = special.end_of_text;
  base.suppressed = suppressed_tokens(weights, special, options.suppress_tokens);
  if (options.suppress_blank) base.suppressed_first = weights.config.suppress_ids_begin;
  if (!without_timestamps) {
    base.timestamp_rules = TimestampRules{
        special.end_of_text, special.no_timestamps, special.timestamp_begin, weights.n_vocab - 1,
        special.timestamp_begin +
            static_cast<int>(std::lround(options.max_initial_timestamp / kSecondsPerTimestamp))};
  }
  base.repetition_penalty = options.repetition_penalty;
  base.no_repeat_ngram_size = options.no_repeat_ngram_size;

  // Prompts are limited to half the context, as Whisper was trained.
  plan.prompt_limit = static_cast<std::size_t>(plan.context / 2 - 1);
  const auto limited = [&](std::vector<int> tokens) {
    if (tokens.size() > plan.prompt_limit) tokens.resize(plan.prompt_limit);
    return tokens;
  };
  if (!options.hotwords.empty() && options.prefix.empty())
    plan.hotword_tokens = limited(tokenizer.encode(util::with_leading_space(options.hotwords)));
  if (!options.prefix.empty())
    plan.prefix_tokens = limited(tokenizer.encode(util::with_leading_space(options.prefix)));
  if (!options.keywords.empty())
    base.keywords = std::make_shared<const KeywordTrie>(tokenizer, options.keywords);
  return plan;
}

DecodeRequest DecodePlan::request(std::span<const int> previous, bool first_window,
                                  std::optional<int> max_new_tokens) const {
  DecodeRequest request = base;
  // The prompt: previous text (and hotwords), the start sequence, then any forced prefix.
  if (!previous.empty() || !hotword_tokens.empty()) {
    request.prompt.push_back(start_of_prev_token);
    request.prompt.insert(request.prompt.end(), hotword_tokens.begin(), hotword_tokens.end());
    const auto keep = std::min(previous.size(), prompt_limit);
    request.prompt.insert(request.prompt.end(), previous.end() - static_cast<std::ptrdiff_t>(keep),
                          previous.end());
  }
  request.start_of_transcript_index = static_cast<int>(request.prompt.size());
  request.prompt.insert(request.prompt.end(), start_sequence.begin(), start_sequence.end());
  if (without_timestamps) request.prompt.push_back(no_timestamps_token);
  if (first_window && !prefix_tokens.empty()) {
    if (!without_timestamps) request.forced.push_back(timestamp_begin_token);
    request.forced.insert(request.forced.end(), prefix_tokens.begin(), prefix_tokens.end());
  }
  const int room = context - static_cast<int>(request.prompt.size() + request.forced.size());
  request.max_new_tokens = max_new_tokens ? std::min(*max_new_tokens, room) : room;
  return request;
}

WordTimingContext DecodePlan::word_timing(model::DecodeBatcher& decoder,
                                          const model::Tokenizer& tokenizer,
                                          const TranscribeOptions& options,
                                          std::shared_ptr<const model::CrossAttentionCache> cross,
                                          const std::stop_token& stop) const {
  return {decoder,
          tokenizer,
          std::move(cross),
          start_sequence,
          split_words_on_characters,
          options.prepend_punctuations,
          options.append_punctuations,
          stop};
}

}  // namespace amanuensis::decoding
