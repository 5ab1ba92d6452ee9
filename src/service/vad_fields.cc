#include "service/vad_fields.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <utility>

#include "service/api_error.h"
#include "service/form_values.h"

namespace amanuensis::service {

namespace {

// faster-whisper's BatchedInferencePipeline cuts speech at shorter silences (as the engine and
// `amanuensis transcribe --batch-size` do).
// Longest duration accepted in milliseconds: a day (keeps every sample count far from overflow).
constexpr double kMaxMilliseconds = 86'400'000.0;
// OpenAI's server_vad defaults.
constexpr float kServerVadThreshold = 0.5F;
constexpr int kServerVadPrefixPaddingMs = 300;
constexpr int kServerVadSilenceMs = 200;

const std::set<std::string, std::less<>> kVadKeyNames = {"threshold",
                                                         "neg_threshold",
                                                         "min_speech_duration_ms",
                                                         "max_speech_duration_s",
                                                         "min_silence_duration_ms",
                                                         "speech_pad_ms"};
constexpr const char* kVadKeys =
    "threshold, neg_threshold, min_speech_duration_ms, max_speech_duration_s, "
    "min_silence_duration_ms, speech_pad_ms";

// A client's key inside a message: printable, bounded.
std::string key_text(std::string_view key) {
  constexpr std::size_t kMaxShown = 40;
  std::string out;
  for (const char c : key.substr(0, kMaxShown)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  return key.size() > kMaxShown ? out + "..." : out;
}

// What the client sent, for a message; structured values by kind only (never dumped or copied:
// they may nest deeply).
std::string described(const nlohmann::json& json, bool text) {
  if (text) return shown(json.get_ref<const std::string&>());
  if (json.is_number()) return number_text(json.get<double>());
  if (json.is_string()) return "the string " + shown(json.get_ref<const std::string&>());
  if (json.is_boolean()) return json.get<bool>() ? "true" : "false";
  if (json.is_null()) return "null";
  return json.is_array() ? "an array" : "an object";
}

std::string described(const FieldValue& value) { return described(value.json, value.text); }

// One key being read: its name in messages ("vad_parameters.threshold") and the form field.
struct Key {
  std::string label;
  std::string param;

  [[noreturn]] void fail(std::string_view rule, const FieldValue& value) const {
    throw bad_request(label + " must be " + std::string(rule) + ", got " + described(value), param);
  }
};

bool is_null(const FieldValue& value) {
  return value.text ? is_none(value.json.get_ref<const std::string&>()) : value.json.is_null();
}

bool is_infinity_text(std::string_view text) {
  const auto word = lower(trim(text));
  return word == "inf" || word == "+inf" || word == "infinity" || word == "+infinity";
}

// A JSON number, or form text that parses whole as a number (NaN and infinities included: the
// range checks refuse them where they do not belong).
std::optional<double> number_in(const FieldValue& value) {
  if (!value.text) {
    if (value.json.is_number()) return value.json.get<double>();
    return std::nullopt;
  }
  const auto text = trim(value.json.get_ref<const std::string&>());
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  double number = 0.0;
  const auto [end, error] = std::from_chars(first, last, number);
  if (text.empty() || error != std::errc() || end != last) return std::nullopt;
  return number;
}

float probability(const Key& key, const FieldValue& value) {
  const auto number = number_in(value);
  if (!number) key.fail("a number between 0 and 1", value);
  if (!(*number >= 0.0 && *number <= 1.0)) key.fail("between 0 and 1", value);
  return static_cast<float>(*number);
}

int milliseconds(const Key& key, const FieldValue& value) {
  const auto number = number_in(value);
  constexpr const char* kRule = "an integer from 0 to 86400000 (milliseconds)";
  if (!number || !(*number >= 0.0 && *number <= kMaxMilliseconds) ||
      *number != std::floor(*number)) {
    key.fail(kRule, value);
  }
  return static_cast<int>(*number);
}

float positive_seconds(const Key& key, const FieldValue& value) {
  constexpr const char* kRule = "a number of seconds above 0 (or \"inf\": no limit)";
  if (!value.text && value.json.is_string() &&
      is_infinity_text(value.json.get_ref<const std::string&>())) {
    return std::numeric_limits<float>::infinity();
  }
  const auto number = number_in(value);
  if (!number || !(*number > 0.0)) key.fail(kRule, value);  // NaN and -inf fail here
  return static_cast<float>(*number);  // beyond float's range: infinity, i.e. no limit
}

// Sets VadOptions' key `name`; false when there is no such key.
bool set_vad_key(VadOverrides& out, std::string_view name, const FieldValue& value,
                 const Key& key) {
  if (name == "threshold") {
    out.threshold = probability(key, value);
  } else if (name == "neg_threshold") {
    out.neg_threshold =
        is_null(value) ? std::nullopt : std::optional<float>(probability(key, value));
  } else if (name == "min_speech_duration_ms") {
    out.min_speech_duration_ms = milliseconds(key, value);
  } else if (name == "max_speech_duration_s") {
    out.max_speech_duration_s = positive_seconds(key, value);
  } else if (name == "min_silence_duration_ms") {
    out.min_silence_duration_ms = milliseconds(key, value);
  } else if (name == "speech_pad_ms") {
    out.speech_pad_ms = milliseconds(key, value);
  } else {
    return false;
  }
  return true;
}

void check_server_vad_type(const ObjectField& field) {
  const std::string& name = field.name();
  const auto type = field.members().find("type");
  if (type == field.members().end()) {
    throw bad_request(name + ".type is required: \"server_vad\" (or send " + name + "=auto)", name);
  }
  const auto& value = type->second;
  const bool is_string = value.text || value.json.is_string();
  if (!is_string || trim(value.json.get_ref<const std::string&>()) != "server_vad") {
    throw bad_request(name + ".type must be \"server_vad\", got " + described(value), name);
  }
}

}  // namespace

bool VadOverrides::empty() const {
  return !threshold && !neg_threshold && !min_speech_duration_ms && !max_speech_duration_s &&
         !min_silence_duration_ms && !speech_pad_ms;
}

VadOptions VadOverrides::over(VadOptions defaults) const {
  if (threshold) defaults.threshold = *threshold;
  if (neg_threshold) defaults.neg_threshold = neg_threshold;
  if (min_speech_duration_ms) defaults.min_speech_duration_ms = *min_speech_duration_ms;
  if (max_speech_duration_s) defaults.max_speech_duration_s = *max_speech_duration_s;
  if (min_silence_duration_ms) defaults.min_silence_duration_ms = *min_silence_duration_ms;
  if (speech_pad_ms) defaults.speech_pad_ms = *speech_pad_ms;
  return defaults;
}

bool ObjectField::take(std::string_view part_name, std::string_view value) {
  const bool whole = part_name == name_;
  const bool keyed = part_name.size() >= name_.size() + 2 && part_name.starts_with(name_) &&
                     part_name[name_.size()] == '[' && part_name.ends_with(']');
  if (!whole && !keyed) return false;
  if (value.size() > kMaxTextFieldBytes) {
    throw bad_request(
        std::string(part_name) + " is longer than " + std::to_string(kMaxTextFieldBytes) + " bytes",
        name_);
  }
  if (whole && whole_) throw bad_request("field '" + name_ + "' is given more than once", name_);
  if (whole_ || (whole && !members_.empty())) {
    throw bad_request(name_ + " is given both as one field (a JSON object) and as " + name_ +
                          "[key] fields; send one of them",
                      name_);
  }
  if (whole) {
    read_whole(trim(value));
    return true;
  }
  const auto key = part_name.substr(name_.size() + 1, part_name.size() - name_.size() - 2);
  if (!members_.emplace(std::string(key), FieldValue{std::string(value), true}).second) {
    throw bad_request("field '" + name_ + "[" + key_text(key) + "]' is given more than once",
                      name_);
  }
  return true;
}

void ObjectField::read_whole(std::string_view text) {
  whole_ = true;
  if (is_none(text)) return;  // null: as if not given
  if (text.front() != '{' && text.front() != '"' && text.front() != '[') {
    scalar_ = std::string(text);
    return;
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& error) {
    throw bad_request(
        name_ + " is not valid JSON (error at byte " + std::to_string(error.byte) + ")", name_);
  } catch (const nlohmann::json::exception&) {
    throw bad_request(name_ + " is not valid JSON", name_);
  }
  if (json.is_string()) {
    scalar_ = json.get<std::string>();
  } else if (json.is_object()) {
    object_ = true;
    for (auto& [key, member] : json.items()) members_[key] = FieldValue{std::move(member), false};
  } else {
    throw bad_request(name_ + " must be a JSON object, got " + described(json, false), name_);
  }
}

VadOverrides vad_parameters_of(const ObjectField& field) {
  const std::string& name = field.name();
  if (field.scalar()) {
    throw bad_request(
        name + " must be a JSON object such as {\"threshold\": 0.6}, got " + shown(*field.scalar()),
        name);
  }
  VadOverrides out;
  for (const auto& [key, value] : field.members()) {
    const Key reading{name + "." + key_text(key), name};
    if (!set_vad_key(out, key, value, reading)) {
      throw bad_request(reading.label + " is not a VAD setting; expected one of " + kVadKeys, name);
    }
  }
  return out;
}

std::optional<VadOverrides> chunking_strategy_of(const ObjectField& field) {
  const std::string& name = field.name();
  if (!field.given()) return std::nullopt;
  if (field.scalar()) {
    if (lower(trim(*field.scalar())) == "auto") return VadOverrides{};
    throw bad_request(
        name + R"( must be "auto" or {"type": "server_vad", ...}, got )" + shown(*field.scalar()),
        name);
  }
  check_server_vad_type(field);
  VadOverrides out;
  out.threshold = kServerVadThreshold;
  out.min_silence_duration_ms = kServerVadSilenceMs;
  out.speech_pad_ms = kServerVadPrefixPaddingMs;
  for (const auto& [key, value] : field.members()) {
    const Key reading{name + "." + key_text(key), name};
    if (key == "type") continue;
    if (key == "threshold") {
      out.threshold = probability(reading, value);
    } else if (key == "prefix_padding_ms") {
      out.speech_pad_ms = milliseconds(reading, value);
    } else if (key == "silence_duration_ms") {
      out.min_silence_duration_ms = milliseconds(reading, value);
    } else {
      throw bad_request(reading.label +
                            " is not a server_vad setting; expected type, threshold, "
                            "prefix_padding_ms or silence_duration_ms",
                        name);
    }
  }
  return out;
}

bool VadFields::take(std::string_view name, std::string_view value) {
  if (name == "vad_filter") {
    if (vad_filter_) throw bad_request("field 'vad_filter' is given more than once", "vad_filter");
    vad_filter_ = parse_bool(name, value);
    return true;
  }
  return parameters_.take(name, value) || chunking_.take(name, value);
}

void VadFields::apply(TranscribeOptions& options) const {
  const auto parameters = vad_parameters_of(parameters_);
  const auto chunking = chunking_strategy_of(chunking_);
  if (chunking && parameters_.given()) {
    throw bad_request("give either chunking_strategy or vad_parameters, not both",
                      "chunking_strategy");
  }
  if (chunking && vad_filter_ == false) {
    throw bad_request("chunking_strategy turns the VAD on, but vad_filter is false",
                      "chunking_strategy");
  }
  // VAD settings ask for the VAD unless vad_filter says otherwise.
  options.vad_filter = vad_filter_;
  if (!vad_filter_ && (chunking || parameters_.given())) options.vad_filter = true;
  if (options.vad_filter == true && !options.clip_timestamps.empty()) {
    throw bad_request(
        "the VAD (vad_filter, vad_parameters, chunking_strategy) and clip_timestamps exclude each "
        "other: clip_timestamps already picks the audio to transcribe",
        "clip_timestamps");
  }
  const auto& overrides = chunking ? *chunking : parameters;
  if (overrides.empty()) return;
  options.vad_parameters = overrides.over(default_vad_options(options));
}

VadOptions speech_timestamps_defaults() {
  VadOptions options;
  options.threshold = 0.75F;
  options.min_silence_duration_ms = 1000;
  options.speech_pad_ms = 0;
  return options;
}

SpeechTimestampsRequest parse_speech_timestamps_form(const std::vector<FormPart>& parts) {
  SpeechTimestampsRequest request;
  VadOverrides given;
  std::set<std::string, std::less<>> seen;
  bool have_file = false;
  for (const auto& part : parts) {
    if (part.name == "file") {
      if (have_file)
        throw bad_request("more than one file uploaded; send one 'file' field", "file");
      have_file = true;
      request.file = part.data;
      request.file_name = part.filename;
      continue;
    }
    if (!seen.insert(part.name).second) {
      throw bad_request("field '" + part.name + "' is given more than once", part.name);
    }
    if (part.name == "model") {
      const auto model = trim(part.data);
      if (!model.empty() && model != kVadModelName) {
        throw bad_request("unknown VAD model " + shown(model) + ": this server runs '" +
                              std::string(kVadModelName) + "'",
                          "model", "model_not_found");
      }
      continue;
    }
    // Anything else that is not a VAD setting is ignored, as on the transcription routes.
    if (kVadKeyNames.contains(part.name)) {
      set_vad_key(given, part.name, FieldValue{std::string(part.data), true},
                  Key{part.name, part.name});
    }
  }
  if (!have_file) throw bad_request("no audio file: send it as the multipart field 'file'", "file");
  if (request.file.empty()) {
    throw bad_request(
        "the uploaded file" +
            (request.file_name.empty() ? std::string() : " " + shown(request.file_name)) +
            " is empty (0 bytes)",
        "file");
  }
  request.options = given.over(speech_timestamps_defaults());
  return request;
}

}  // namespace amanuensis::service
