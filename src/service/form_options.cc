#include "service/form_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "formats/transcript_formats.h"
#include "service/api_error.h"

namespace amanuensis::service {

namespace {

// faster-whisper's fallback ladder; OpenAI's temperature t > 0 starts the ladder at t.
constexpr float kTemperatureStep = 0.2F;

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Client text quoted in a message: short, printable, on one line.
std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 40;
  std::string out = "'";
  for (const char c : text.substr(0, kMaxShown)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  return out + (text.size() > kMaxShown ? "...'" : "'");
}

[[noreturn]] void bad_value(std::string_view field, std::string_view value,
                            std::string_view expected) {
  throw bad_request(
      "invalid " + std::string(field) + " " + shown(value) + ": expected " + std::string(expected),
      std::string(field));
}

std::string number_text(float value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", static_cast<double>(value));
  return buffer;
}

template <typename T>
T parse_number(std::string_view field, std::string_view raw, std::string_view expected) {
  const auto text = trim(raw);
  T value{};
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;  // from_chars refuses a leading '+'
  const auto [end, error] = std::from_chars(first, last, value);
  if (text.empty() || error != std::errc() || end != last) bad_value(field, raw, expected);
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) bad_value(field, raw, expected);
  }
  return value;
}

float parse_float(std::string_view field, std::string_view raw, float min, float max) {
  const auto value = parse_number<float>(field, raw, "a number");
  if (value < min || value > max) {
    bad_value(field, raw, "a number from " + number_text(min) + " to " + number_text(max));
  }
  return value;
}

int parse_int(std::string_view field, std::string_view raw, int min, int max) {
  const auto value = parse_number<long long>(field, raw, "an integer");
  if (value < min || value > max) {
    bad_value(field, raw, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<int>(value);
}

bool parse_bool(std::string_view field, std::string_view raw) {
  const auto text = lower(trim(raw));
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  bad_value(field, raw, "true or false");
}

bool is_none(std::string_view raw) {
  const auto text = lower(trim(raw));
  return text == "none" || text == "null" || text.empty();
}

// "0.2,0.4", "[0.2, 0.4]" or "0.2 0.4": faster-whisper users write lists several ways.
std::vector<std::string_view> split_list(std::string_view raw) {
  auto text = trim(raw);
  if (text.starts_with('[') && text.ends_with(']')) text = trim(text.substr(1, text.size() - 2));
  std::vector<std::string_view> items;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find_first_of(", ", pos), text.size());
    if (end > pos) items.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return items;
}

std::string parse_text(std::string_view field, std::string_view raw) {
  if (raw.size() > kMaxTextFieldBytes) {
    throw bad_request(
        std::string(field) + " is longer than " + std::to_string(kMaxTextFieldBytes) + " bytes",
        std::string(field));
  }
  return std::string(raw);
}

std::vector<float> temperature_ladder(float first) {
  std::vector<float> ladder;
  for (float t = first; t <= 1.0F + 1e-4F; t += kTemperatureStep)
    ladder.push_back(std::min(t, 1.0F));
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
const std::set<std::string, std::less<>> kIgnoredFields = {"chunking_strategy",
                                                           "include[]",
                                                           "include",
                                                           "user",
                                                           "known_speaker_names[]",
                                                           "known_speaker_references[]",
                                                           "vad_parameters",
                                                           "keywords",
                                                           "languages[]"};

// Fields that may repeat: each occurrence adds to a list.
bool is_repeatable(std::string_view name) {
  return name == "timestamp_granularities[]" || name == "timestamp_granularities" ||
         kIgnoredFields.contains(name);
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
    if (!request_.model.empty() && request_.model != kOpenAiModelAlias &&
        request_.model != context_.model_name) {
      throw bad_request("unknown model " + shown(request_.model) + ": this server has '" +
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
    if (task_ == "translate" && !context_.multilingual) {
      throw bad_request("model '" + context_.model_name +
                            "' is English-only; it cannot translate (load a multilingual model)",
                        "model");
    }
    if (granularities_given_ && request_.response_format != ResponseFormat::kVerboseJson) {
      throw bad_request("timestamp_granularities[] requires response_format=verbose_json",
                        "timestamp_granularities[]");
    }
    if (request_.include_words) o_.word_timestamps = true;
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
      o_.seed = parse_number<std::uint64_t>(name, value, "a non-negative integer");
    } else if (name == "vad_filter") {
      request_.vad_filter = parse_bool(name, value);
    }
    // Anything else is ignored (see the header).
  }

  const FormContext& context_;
  TranscriptionRequest& request_;
  TranscribeOptions& o_;
  std::string task_ = context_.task;
  std::set<std::string, std::less<>> seen_;
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

}  // namespace amanuensis::service
