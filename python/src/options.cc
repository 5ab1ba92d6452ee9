#include "options.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace amanuensis::python {
namespace {

template <typename T>
T as(const nb::handle& value, const std::string& key) {
  try {
    return nb::cast<T>(value);
  } catch (const nb::cast_error&) {
    throw nb::type_error(("amanuensis: option " + key + " has the wrong type").c_str());
  }
}

template <typename T>
std::optional<T> optional_as(const nb::handle& value, const std::string& key) {
  if (value.is_none()) return std::nullopt;
  return as<T>(value, key);
}

using Setter = std::function<void(TranscribeOptions&, const nb::handle&, const std::string&)>;

// One entry per option: a table, however long, not a function to split.
// NOLINTNEXTLINE(readability-function-size)
const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"language", [](auto& o, const auto& v,
                      const auto& k) { o.language = optional_as<std::string>(v, k).value_or(""); }},
      {"task", [](auto& o, const auto& v, const auto& k) { o.task = as<std::string>(v, k); }},
      {"beam_size", [](auto& o, const auto& v, const auto& k) { o.beam_size = as<int>(v, k); }},
      {"best_of", [](auto& o, const auto& v, const auto& k) { o.best_of = as<int>(v, k); }},
      {"patience", [](auto& o, const auto& v, const auto& k) { o.patience = as<float>(v, k); }},
      {"length_penalty",
       [](auto& o, const auto& v, const auto& k) { o.length_penalty = as<float>(v, k); }},
      {"repetition_penalty",
       [](auto& o, const auto& v, const auto& k) { o.repetition_penalty = as<float>(v, k); }},
      {"no_repeat_ngram_size",
       [](auto& o, const auto& v, const auto& k) { o.no_repeat_ngram_size = as<int>(v, k); }},
      {"temperatures", [](auto& o, const auto& v,
                          const auto& k) { o.temperatures = as<std::vector<float>>(v, k); }},
      {"compression_ratio_threshold",
       [](auto& o, const auto& v, const auto& k) {
         o.compression_ratio_threshold = optional_as<float>(v, k);
       }},
      {"log_prob_threshold",
       [](auto& o, const auto& v, const auto& k) {
         o.log_prob_threshold = optional_as<float>(v, k);
       }},
      {"no_speech_threshold",
       [](auto& o, const auto& v, const auto& k) {
         o.no_speech_threshold = optional_as<float>(v, k);
       }},
      {"condition_on_previous_text",
       [](auto& o, const auto& v, const auto& k) {
         o.condition_on_previous_text = as<bool>(v, k);
       }},
      {"prompt_reset_on_temperature",
       [](auto& o, const auto& v, const auto& k) {
         o.prompt_reset_on_temperature = as<float>(v, k);
       }},
      {"initial_prompt",
       [](auto& o, const auto& v, const auto& k) {
         if (nb::isinstance<nb::str>(v) || v.is_none()) {
           o.initial_prompt = optional_as<std::string>(v, k).value_or("");
         } else {
           o.initial_prompt_tokens = as<std::vector<int>>(v, k);
         }
       }},
      {"multilingual",
       [](auto& o, const auto& v, const auto& k) { o.multilingual = as<bool>(v, k); }},
      {"keywords",
       [](auto& o, const auto& v, const auto& k) {
         if (nb::isinstance<nb::str>(v)) {
           o.keywords = parse_keywords(as<std::string>(v, k));
           return;
         }
         o.keywords.clear();
         for (const auto& [text, weight] : as<std::vector<std::pair<std::string, float>>>(v, k))
           o.keywords.push_back({text, weight});
       }},
      {"language_detection_segments",
       [](auto& o, const auto& v, const auto& k) {
         o.language_detection_segments = as<int>(v, k);
       }},
      {"language_detection_threshold",
       [](auto& o, const auto& v, const auto& k) {
         o.language_detection_threshold = as<float>(v, k);
       }},
      {"prefix", [](auto& o, const auto& v,
                    const auto& k) { o.prefix = optional_as<std::string>(v, k).value_or(""); }},
      {"hotwords", [](auto& o, const auto& v,
                      const auto& k) { o.hotwords = optional_as<std::string>(v, k).value_or(""); }},
      {"suppress_blank",
       [](auto& o, const auto& v, const auto& k) { o.suppress_blank = as<bool>(v, k); }},
      {"suppress_tokens",
       [](auto& o, const auto& v, const auto& k) {
         o.suppress_tokens = optional_as<std::vector<int>>(v, k).value_or(std::vector<int>{});
       }},
      {"without_timestamps", [](auto& o, const auto& v,
                                const auto& k) { o.without_timestamps = optional_as<bool>(v, k); }},
      {"max_initial_timestamp",
       [](auto& o, const auto& v, const auto& k) { o.max_initial_timestamp = as<float>(v, k); }},
      {"max_new_tokens",
       [](auto& o, const auto& v, const auto& k) { o.max_new_tokens = optional_as<int>(v, k); }},
      {"word_timestamps",
       [](auto& o, const auto& v, const auto& k) { o.word_timestamps = as<bool>(v, k); }},
      {"prepend_punctuations",
       [](auto& o, const auto& v, const auto& k) {
         o.prepend_punctuations = as<std::string>(v, k);
       }},
      {"append_punctuations", [](auto& o, const auto& v,
                                 const auto& k) { o.append_punctuations = as<std::string>(v, k); }},
      {"hallucination_silence_threshold",
       [](auto& o, const auto& v, const auto& k) {
         o.hallucination_silence_threshold = optional_as<float>(v, k);
       }},
      {"clip_timestamps", [](auto& o, const auto& v,
                             const auto& k) { o.clip_timestamps = as<std::vector<float>>(v, k); }},
      {"seed", [](auto& o, const auto& v, const auto& k) { o.seed = as<std::uint64_t>(v, k); }},
      {"vad_filter",
       [](auto& o, const auto& v, const auto& k) { o.vad_filter = optional_as<bool>(v, k); }},
      {"vad_parameters",
       [](auto& o, const auto& v, const auto& k) {
         if (!v.is_none()) o.vad_parameters = vad_options(as<nb::dict>(v, k));
       }},
      {"vad_model",
       [](auto& o, const auto& v, const auto& k) {
         o.vad_model = optional_as<std::string>(v, k).value_or("");
       }},
      {"batch_size", [](auto& o, const auto& v, const auto& k) { o.batch_size = as<int>(v, k); }},
      {"chunk_length",
       [](auto& o, const auto& v, const auto& k) { o.chunk_length = optional_as<int>(v, k); }},
  };
  return table;
}

}  // namespace

TranscribeOptions transcribe_options(const nb::dict& kwargs) {
  TranscribeOptions options;
  for (const auto& [key, value] : kwargs) {
    const auto name = nb::cast<std::string>(key);
    const auto found = setters().find(name);
    if (found == setters().end()) {
      throw nb::type_error(("amanuensis: unknown option " + name).c_str());
    }
    found->second(options, value, name);
  }
  return options;
}

VadOptions vad_options(const nb::dict& kwargs) {
  VadOptions options;
  for (const auto& [key, value] : kwargs) {
    const auto name = nb::cast<std::string>(key);
    if (name == "threshold") {
      options.threshold = as<float>(value, name);
    } else if (name == "neg_threshold") {
      options.neg_threshold = optional_as<float>(value, name);
    } else if (name == "min_speech_duration_ms") {
      options.min_speech_duration_ms = as<int>(value, name);
    } else if (name == "max_speech_duration_s") {
      options.max_speech_duration_s = as<float>(value, name);
    } else if (name == "min_silence_duration_ms") {
      options.min_silence_duration_ms = as<int>(value, name);
    } else if (name == "speech_pad_ms") {
      options.speech_pad_ms = as<int>(value, name);
    } else {
      throw nb::type_error(("amanuensis: unknown VAD option " + name).c_str());
    }
  }
  validate(options);
  return options;
}

nb::dict segment_dict(const Segment& s) {
  nb::dict d;
  d["id"] = s.id;
  d["seek"] = s.seek;
  d["start"] = s.start;
  d["end"] = s.end;
  d["text"] = s.text;
  d["tokens"] = s.tokens;
  d["avg_logprob"] = s.avg_logprob;
  d["compression_ratio"] = s.compression_ratio;
  d["no_speech_prob"] = s.no_speech_prob;
  d["temperature"] = s.temperature;
  nb::list words;
  for (const auto& w : s.words) words.append(nb::make_tuple(w.start, w.end, w.word, w.probability));
  d["words"] = words;
  d["language"] = s.language.empty() ? nb::none() : nb::cast(s.language);
  return d;
}

nb::dict info_dict(const Transcription& info) {
  nb::dict d;
  d["language"] = info.language;
  d["language_probability"] = info.language_probability;
  d["duration"] = info.duration;
  d["duration_after_vad"] = info.duration_after_vad;
  d["all_language_probs"] = info.all_language_probs;
  return d;
}

}  // namespace amanuensis::python
