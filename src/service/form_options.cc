#include "service/form_options.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "formats/transcript_formats.h"
#include "service/api_error.h"
#include "service/form_values.h"
#include "service/model_registry.h"
#include "service/vad_fields.h"

namespace amanuensis::service {

namespace {

// faster-whisper's fallback ladder; OpenAI's temperature t > 0 starts the ladder at t.
constexpr float kTemperatureStep = 0.2F;
// Chunks decoded together in batched mode (the engine's limit).
constexpr int kMaxBatchSize = 256;
constexpr int kMaxChunkLength = 30;  // seconds: Whisper's window
// A penalty this large already all but forbids every token produced so far.
constexpr float kMaxRepetitionPenalty = 1e6F;
constexpr int kMaxLanguageDetectionSegments = 1000;  // 8 hours of windows

std::vector<float> temperature_ladder(float first) {
  std::vector<float> ladder;
  // Summed step by step, as always: 0.2 + 0.2 + 0.2 is the float 0.6F, 3 * 0.2F is not.
  float t = first;
  while (t <= 1.0F + 1e-4F) {
    ladder.push_back(std::min(t, 1.0F));
    t += kTemperatureStep;
  }
  return ladder;
}

ResponseFormat parse_response_format(std::string_view raw) {
  const auto text = lower(trim(raw));
  if (text == "json") return ResponseFormat::kJson;
  if (text == "text") return ResponseFormat::kText;
  if (text == "srt") return ResponseFormat::kSrt;
  if (text == "vtt") return ResponseFormat::kVtt;
  if (text == "verbose_json") return ResponseFormat::kVerboseJson;
  bad_value("response_format", raw, "one of json, text, srt, verbose_json, vtt");
}

// Fields OpenAI clients may send that mean nothing to Whisper; accepted and ignored.
const std::set<std::string, std::less<>> kIgnoredFields = {"user", "known_speaker_names[]",
                                                           "known_speaker_references[]"};

// Fields that may repeat: each occurrence adds to a list.
bool is_repeatable(std::string_view name) {
  return name == "timestamp_granularities[]" || name == "timestamp_granularities" ||
         name == "include[]" || name == "include" || name == "languages[]" || name == "languages" ||
         name == "keywords[]" || name == "keywords" || kIgnoredFields.contains(name);
}

class FormReader {
 public:
  FormReader(const FormContext& context, TranscriptionRequest& request)
      : context_(context), request_(request), o_(request.options) {}

  void read(const FormPart& part) {
    const std::string_view name = part.name;
    const std::string_view value = part.data;
    if (std::find(context_.file_fields.begin(), context_.file_fields.end(), name) !=
        context_.file_fields.end()) {
      if (have_file_)
        throw bad_request("more than one file uploaded; send one 'file' field", "file");
      have_file_ = true;
      request_.file = value;
      request_.file_name = part.filename;
      return;
    }
    if (vad_.take(name, value)) return;  // checks its own repeats (param: the object's name)
    if (!is_repeatable(name) && !seen_.insert(std::string(name)).second) {
      throw bad_request("field '" + std::string(name) + "' is given more than once",
                        std::string(name));
    }
    if (kIgnoredFields.contains(name)) return;

    if (name == "model") {
      request_.model = std::string(trim(value));
    } else if (name == "language") {
      o_.language = lower(trim(value));
    } else if (name == "prompt" || name == "initial_prompt") {
      o_.initial_prompt = parse_text(name, value);
    } else if (name == "temperature") {
      read_temperature(value);
    } else if (name == "response_format") {
      request_.response_format = parse_response_format(value);
    } else if (name == "timestamp_granularities[]" || name == "timestamp_granularities") {
      read_granularities(value);
    } else if (name == "stream") {
      request_.stream = parse_bool(name, value);
    } else if (name == "languages[]" || name == "languages") {
      // Detection chooses among these (a comma list or the field repeated).
      for (const auto item : split_list(value)) {
        const auto code = lower(trim(item));
        if (formats::language_name(code).empty()) {
          throw bad_request("unknown language " + shown(code) +
                                " in languages[]: expected ISO-639-1 codes such as 'en' or 'de'",
                            std::string(name));
        }
        o_.languages.push_back(code);
      }
    } else if (name == "keywords[]" || name == "keywords") {
      // Words to favour in the search: the field repeated or a comma list, each "word:weight".
      try {
        for (auto& keyword : parse_keywords(value)) o_.keywords.push_back(std::move(keyword));
      } catch (const Error& e) {
        throw bad_request(e.what(), std::string(name));
      }
    } else if (name == "include[]" || name == "include") {
      // OpenAI's include[]: "logprobs" is the one item it defines.
      if (trim(value) != "logprobs") bad_value(name, value, "logprobs");
      o_.logprobs = true;
    } else if (name == "task") {
      read_task(value);
    } else {
      read_decoding_option(name, value);
    }
  }

  void finish() {
    if (!have_file_) {
      throw bad_request("no audio file: send it as the multipart field 'file'", "file");
    }
    if (request_.file.empty()) {
      throw bad_request(
          "the uploaded file" +
              (request_.file_name.empty() ? std::string() : " " + shown(request_.file_name)) +
              " is empty (0 bytes)",
          "file");
    }
    if (!is_default_model_alias(request_.model) && request_.model != context_.model_name) {
      throw bad_request("unknown model " + shown(request_.model) + ": this request runs on '" +
                            context_.model_name + "' (also reachable as '" +
                            std::string(kOpenAiModelAlias) + "')",
                        "model", "model_not_found");
    }
    if (!o_.language.empty()) {
      if (formats::language_name(o_.language).empty()) {
        throw bad_request("unknown language " + shown(o_.language) +
                              ": expected an ISO-639-1 code such as 'en' or 'de'",
                          "language");
      }
      if (!context_.multilingual && o_.language != "en") {
        throw bad_request("model '" + context_.model_name +
                              "' is English-only; it cannot transcribe language '" + o_.language +
                              "'",
                          "language");
      }
    }
    o_.task = task_;
    if (!o_.languages.empty() && !o_.language.empty() &&
        std::find(o_.languages.begin(), o_.languages.end(), o_.language) == o_.languages.end()) {
      throw bad_request("language '" + o_.language + "' is not among languages[]", "language");
    }
    if (!context_.multilingual && std::any_of(o_.languages.begin(), o_.languages.end(),
                                              [](const auto& l) { return l != "en"; })) {
      throw bad_request(
          "model '" + context_.model_name + "' is English-only; languages[] can only be en",
          "languages[]");
    }
    if (o_.multilingual && !context_.multilingual) {
      throw bad_request("model '" + context_.model_name +
                            "' is English-only; multilingual needs a multilingual model",
                        "multilingual");
    }
    if (task_ == "translate" && !context_.multilingual) {
      throw bad_request("model '" + context_.model_name +
                            "' is English-only; it cannot translate (load a multilingual model)",
                        "model");
    }
    if (granularities_given_ && request_.response_format != ResponseFormat::kVerboseJson) {
      throw bad_request("timestamp_granularities[] requires response_format=verbose_json",
                        "timestamp_granularities[]");
    }
    if (o_.logprobs && request_.response_format != ResponseFormat::kJson &&
        request_.response_format != ResponseFormat::kVerboseJson) {
      throw bad_request("include[]=logprobs requires response_format json or verbose_json",
                        "include[]");
    }
    if (request_.include_words) o_.word_timestamps = true;
    vad_.apply(o_);  // after batch_size, which picks the VAD's defaults
  }

 private:
  void read_temperature(std::string_view value) {
    const auto items = split_list(value);
    if (items.size() > 1) {  // faster-whisper's explicit ladder
      o_.temperatures.clear();
      for (const auto item : items)
        o_.temperatures.push_back(parse_float("temperature", item, 0.0F, 1.0F));
      return;
    }
    const float t = parse_float("temperature", value, 0.0F, 1.0F);
    // OpenAI: 0 means "start at 0 and fall back automatically", which is the default ladder.
    o_.temperatures = t == 0.0F ? TranscribeOptions{}.temperatures : temperature_ladder(t);
  }

  void read_granularities(std::string_view value) {
    if (!granularities_given_) {
      granularities_given_ = true;
      request_.include_segments = false;
    }
    for (const auto item : split_list(value)) {
      const auto text = lower(item);
      if (text == "word") {
        request_.include_words = true;
      } else if (text == "segment") {
        request_.include_segments = true;
      } else {
        bad_value("timestamp_granularities[]", item, "segment or word");
      }
    }
  }

  void read_task(std::string_view value) {
    const auto text = lower(trim(value));
    if (!context_.task_field_allowed) {
      if (text != context_.task) {
        throw bad_request(
            "task '" + text + "' does not match this endpoint, which does '" + context_.task + "'",
            "task");
      }
      return;
    }
    if (text != "transcribe" && text != "translate")
      bad_value("task", value, "transcribe or translate");
    task_ = text;
  }

  static std::optional<float> optional_float(std::string_view name, std::string_view value,
                                             float min, float max) {
    if (is_none(value)) return std::nullopt;
    return parse_float(name, value, min, max);
  }

  void read_decoding_option(std::string_view name, std::string_view value) {
    constexpr float kBig = 1e6F;
    if (name == "beam_size") {
      o_.beam_size = parse_int(name, value, 1, 64);
    } else if (name == "best_of") {
      o_.best_of = parse_int(name, value, 1, 64);
    } else if (name == "patience") {
      o_.patience = parse_float(name, value, 0.01F, 100.0F);
    } else if (name == "length_penalty") {
      o_.length_penalty = parse_float(name, value, -10.0F, 10.0F);
    } else if (name == "compression_ratio_threshold") {
      o_.compression_ratio_threshold = optional_float(name, value, 0.0F, kBig);
    } else if (name == "log_prob_threshold" || name == "logprob_threshold") {
      o_.log_prob_threshold = optional_float(name, value, -kBig, 0.0F);
    } else if (name == "no_speech_threshold") {
      o_.no_speech_threshold = optional_float(name, value, 0.0F, 1.0F);
    } else if (name == "condition_on_previous_text") {
      o_.condition_on_previous_text = parse_bool(name, value);
    } else if (name == "prompt_reset_on_temperature") {
      o_.prompt_reset_on_temperature = parse_float(name, value, 0.0F, 1.0F);
    } else if (name == "prefix") {
      o_.prefix = parse_text(name, value);
    } else if (name == "hotwords") {
      o_.hotwords = parse_text(name, value);
    } else if (name == "suppress_blank") {
      o_.suppress_blank = parse_bool(name, value);
    } else if (name == "suppress_tokens") {
      o_.suppress_tokens.clear();
      for (const auto item : split_list(value)) {
        o_.suppress_tokens.push_back(parse_int(name, item, -1, std::numeric_limits<int>::max()));
      }
    } else if (name == "without_timestamps") {
      o_.without_timestamps = parse_bool(name, value);
    } else if (name == "max_initial_timestamp") {
      o_.max_initial_timestamp = parse_float(name, value, 0.0F, 30.0F);
    } else if (name == "max_new_tokens") {
      if (is_none(value)) {
        o_.max_new_tokens.reset();
      } else {
        o_.max_new_tokens = parse_int(name, value, 1, 448);
      }
    } else if (name == "word_timestamps") {
      o_.word_timestamps = parse_bool(name, value);
    } else if (name == "prepend_punctuations") {
      o_.prepend_punctuations = parse_text(name, value);
    } else if (name == "append_punctuations") {
      o_.append_punctuations = parse_text(name, value);
    } else if (name == "hallucination_silence_threshold") {
      o_.hallucination_silence_threshold = optional_float(name, value, 0.0F, kBig);
    } else if (name == "clip_timestamps") {
      o_.clip_timestamps.clear();
      for (const auto item : split_list(value)) {
        o_.clip_timestamps.push_back(parse_float(name, item, 0.0F, 1e7F));
      }
      // faster-whisper's default "0" means "from the start", i.e. the whole file.
      if (o_.clip_timestamps.size() == 1 && o_.clip_timestamps.front() == 0.0F) {
        o_.clip_timestamps.clear();
      }
    } else if (name == "seed") {
      o_.seed = parse_unsigned(name, value);
    } else {
      read_long_form_option(name, value);
    }
  }

  void read_long_form_option(std::string_view name, std::string_view value) {
    if (name == "batch_size") {
      o_.batch_size = parse_int(name, value, 0, kMaxBatchSize);
    } else if (name == "chunk_length") {
      o_.chunk_length = parse_int(name, value, 1, kMaxChunkLength);
    } else if (name == "repetition_penalty") {
      o_.repetition_penalty = parse_float(name, value, 0.0F, kMaxRepetitionPenalty);
      if (!(o_.repetition_penalty > 0.0F)) bad_value(name, value, "a number above 0");
    } else if (name == "no_repeat_ngram_size") {
      o_.no_repeat_ngram_size = parse_int(name, value, 0, std::numeric_limits<int>::max());
    } else if (name == "multilingual") {
      o_.multilingual = parse_bool(name, value);
    } else if (name == "language_detection_threshold") {
      o_.language_detection_threshold = parse_float(name, value, 0.0F, 1.0F);
    } else if (name == "language_detection_segments") {
      o_.language_detection_segments = parse_int(name, value, 1, kMaxLanguageDetectionSegments);
    }
    // Anything else is ignored (see the header).
  }

  const FormContext& context_;
  TranscriptionRequest& request_;
  TranscribeOptions& o_;
  std::string task_ = context_.task;
  std::set<std::string, std::less<>> seen_;
  VadFields vad_;
  bool have_file_ = false;
  bool granularities_given_ = false;
};

}  // namespace

std::string_view response_format_name(ResponseFormat format) {
  switch (format) {
    case ResponseFormat::kJson:
      return "json";
    case ResponseFormat::kText:
      return "text";
    case ResponseFormat::kSrt:
      return "srt";
    case ResponseFormat::kVtt:
      return "vtt";
    case ResponseFormat::kVerboseJson:
      return "verbose_json";
  }
  return "json";
}

TranscriptionRequest parse_transcription_form(const std::vector<FormPart>& parts,
                                              const FormContext& context) {
  TranscriptionRequest request;
  FormReader reader(context, request);
  for (const auto& part : parts) reader.read(part);
  reader.finish();
  return request;
}

std::string model_field(const std::vector<FormPart>& parts) {
  for (const auto& part : parts) {
    if (part.name == "model" && !part.has_filename) return std::string(trim(part.data));
  }
  return {};
}

}  // namespace amanuensis::service
