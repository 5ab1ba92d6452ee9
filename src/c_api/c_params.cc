#include "c_api/c_params.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace amanuensis::c_api {
namespace {

const TranscribeOptions kDefaults{};

std::string text_or(const char* text, const std::string& fallback) {
  return text == nullptr ? fallback : std::string(text);
}

std::optional<float> unless_nan(float value) {
  return std::isnan(value) ? std::nullopt : std::optional<float>(value);
}

float nan_if_unset(const std::optional<float>& value) { return value ? *value : std::nanf(""); }

std::optional<bool> tristate(int value, const char* field) {
  if (value == -1) return std::nullopt;
  if (value == 0 || value == 1) return value == 1;
  throw Error(std::string(field) + " must be -1 (unset), 0 or 1, not " + std::to_string(value));
}

template <typename T>
std::vector<T> array_of(const T* values, std::size_t count, const char* field) {
  if (values == nullptr && count > 0) {
    throw Error(std::string(field) + " is NULL but its count is " + std::to_string(count));
  }
  return values == nullptr ? std::vector<T>() : std::vector<T>(values, values + count);
}

VadOptions vad_options_of(const amanuensis_vad_params& params) {
  return {.threshold = params.threshold,
          .neg_threshold = unless_nan(params.neg_threshold),
          .min_speech_duration_ms = params.min_speech_duration_ms,
          .max_speech_duration_s = params.max_speech_duration_s,
          .min_silence_duration_ms = params.min_silence_duration_ms,
          .speech_pad_ms = params.speech_pad_ms};
}

}  // namespace

amanuensis_model_params default_model_params() {
  return {.compute_type = "default",
          .device = "auto",
          .threads = 0,
          .decode_lanes = 0,
          .device_index = -1};
}

amanuensis_vad_params vad_params_of(const VadOptions& options) {
  return {.threshold = options.threshold,
          .neg_threshold = nan_if_unset(options.neg_threshold),
          .min_speech_duration_ms = options.min_speech_duration_ms,
          .max_speech_duration_s = options.max_speech_duration_s,
          .min_silence_duration_ms = options.min_silence_duration_ms,
          .speech_pad_ms = options.speech_pad_ms};
}

amanuensis_transcribe_params default_transcribe_params() {
  const auto& d = kDefaults;
  amanuensis_transcribe_params p{};
  p.task = "transcribe";
  p.beam_size = d.beam_size;
  p.best_of = d.best_of;
  p.patience = d.patience;
  p.length_penalty = d.length_penalty;
  p.compression_ratio_threshold = nan_if_unset(d.compression_ratio_threshold);
  p.log_prob_threshold = nan_if_unset(d.log_prob_threshold);
  p.no_speech_threshold = nan_if_unset(d.no_speech_threshold);
  p.condition_on_previous_text = d.condition_on_previous_text;
  p.prompt_reset_on_temperature = d.prompt_reset_on_temperature;
  p.suppress_blank = d.suppress_blank;
  p.without_timestamps = -1;
  p.max_initial_timestamp = d.max_initial_timestamp;
  p.hallucination_silence_threshold = std::nanf("");
  p.seed = d.seed;
  p.repetition_penalty = d.repetition_penalty;
  p.no_repeat_ngram_size = d.no_repeat_ngram_size;
  p.vad_filter = -1;
  p.batch_size = d.batch_size;
  p.language_detection_segments = d.language_detection_segments;
  p.language_detection_threshold = d.language_detection_threshold;
  p.multilingual = d.multilingual;
  return p;
}

ModelOptions model_options(const char* path, const amanuensis_model_params& params) {
  if (path == nullptr) throw Error("model path is NULL");
  return {.path = path,
          .threads = params.threads,
          .compute_type = text_or(params.compute_type, "default"),
          .device = text_or(params.device, "auto"),
          .device_index =
              params.device_index >= 0 ? std::optional<int>(params.device_index) : std::nullopt,
          .decode_lanes = params.decode_lanes};
}

TranscribeOptions transcribe_options(const amanuensis_transcribe_params& p) {
  TranscribeOptions o;
  o.language = text_or(p.language, "");
  o.task = text_or(p.task, o.task);
  o.beam_size = p.beam_size;
  o.best_of = p.best_of;
  o.patience = p.patience;
  o.length_penalty = p.length_penalty;
  if (p.temperatures != nullptr || p.n_temperatures > 0) {
    o.temperatures = array_of(p.temperatures, p.n_temperatures, "temperatures");
    if (o.temperatures.empty()) throw Error("temperatures must hold at least one value");
  }
  o.compression_ratio_threshold = unless_nan(p.compression_ratio_threshold);
  o.log_prob_threshold = unless_nan(p.log_prob_threshold);
  o.no_speech_threshold = unless_nan(p.no_speech_threshold);
  o.condition_on_previous_text = p.condition_on_previous_text;
  o.prompt_reset_on_temperature = p.prompt_reset_on_temperature;
  o.initial_prompt = text_or(p.initial_prompt, "");
  o.prefix = text_or(p.prefix, "");
  o.hotwords = text_or(p.hotwords, "");
  o.suppress_blank = p.suppress_blank;
  if (p.suppress_tokens != nullptr || p.n_suppress_tokens > 0) {
    o.suppress_tokens = array_of(p.suppress_tokens, p.n_suppress_tokens, "suppress_tokens");
  }
  o.without_timestamps = tristate(p.without_timestamps, "without_timestamps");
  o.max_initial_timestamp = p.max_initial_timestamp;
  if (p.max_new_tokens < 0) throw Error("max_new_tokens must be 0 (no cap) or positive");
  if (p.max_new_tokens > 0) o.max_new_tokens = p.max_new_tokens;
  o.word_timestamps = p.word_timestamps;
  o.prepend_punctuations = text_or(p.prepend_punctuations, o.prepend_punctuations);
  o.append_punctuations = text_or(p.append_punctuations, o.append_punctuations);
  o.hallucination_silence_threshold = unless_nan(p.hallucination_silence_threshold);
  o.clip_timestamps = array_of(p.clip_timestamps, p.n_clip_timestamps, "clip_timestamps");
  o.seed = p.seed;
  o.repetition_penalty = p.repetition_penalty;
  o.no_repeat_ngram_size = p.no_repeat_ngram_size;
  o.vad_filter = tristate(p.vad_filter, "vad_filter");
  if (p.vad_parameters != nullptr) {
    o.vad_parameters = vad_options_of(*p.vad_parameters);
    validate(*o.vad_parameters);
  }
  o.vad_model = text_or(p.vad_model, "");
  o.batch_size = p.batch_size;
  o.initial_prompt_tokens =
      array_of(p.initial_prompt_tokens, p.n_initial_prompt_tokens, "initial_prompt_tokens");
  o.language_detection_segments = p.language_detection_segments;
  o.language_detection_threshold = p.language_detection_threshold;
  o.multilingual = p.multilingual;
  if (p.keywords != nullptr) o.keywords = parse_keywords(p.keywords);
  if (p.chunk_length != 0) o.chunk_length = p.chunk_length;
  if (p.languages == nullptr && p.n_languages > 0) throw Error("languages is NULL");
  for (std::size_t i = 0; i < p.n_languages; ++i) {
    if (p.languages[i] == nullptr) throw Error("languages holds a NULL");
    o.languages.emplace_back(p.languages[i]);
  }
  return o;
}

}  // namespace amanuensis::c_api
