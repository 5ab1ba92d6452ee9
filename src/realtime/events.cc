#include "realtime/events.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <utility>

namespace amanuensis::realtime {

namespace {

using nlohmann::json;

constexpr std::string_view kLogprobsInclude = "item.input_audio_transcription.logprobs";
constexpr int kMaxDurationMs = 60000;

// Thrown inside the parser only; parse_client_event turns it into an EventError.
struct Failure {
  EventError error;
};

[[noreturn]] void fail(std::string code, std::string message, std::string param) {
  throw Failure{{std::move(code), std::move(message), std::move(param), std::nullopt}};
}

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

// Fails on any key of `object` not in `known` (a setting we would otherwise drop silently).
void only_keys(const json& object, std::string_view path,
               std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      fail("unknown_parameter", "Unknown parameter: '" + join(path, key) + "'.", join(path, key));
    }
  }
}

const json& require_object(const json& value, const std::string& param) {
  if (!value.is_object()) fail("invalid_type", "'" + param + "' must be an object.", param);
  return value;
}

// The member `key` of `object`, or nullptr when it is absent or null.
const json* member(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_value(const json& value, const std::string& param) {
  if (!value.is_string()) fail("invalid_type", "'" + param + "' must be a string.", param);
  return value.get<std::string>();
}

double number_value(const json& value, const std::string& param, double low, double high) {
  if (!value.is_number()) fail("invalid_type", "'" + param + "' must be a number.", param);
  const double v = value.get<double>();
  if (!(v >= low && v <= high)) {
    fail("invalid_value",
         "'" + param + "' must be between " + json(low).dump() + " and " + json(high).dump() + ".",
         param);
  }
  return v;
}

int integer_value(const json& value, const std::string& param, int low, int high) {
  const double v = number_value(value, param, low, high);
  if (v != std::floor(v)) fail("invalid_type", "'" + param + "' must be an integer.", param);
  return static_cast<int>(v);
}

AudioFormat ga_format(const json& value, const std::string& path) {
  require_object(value, path);
  only_keys(value, path, {"type", "rate"});
  const json* type = member(value, "type");
  const std::string kind = type ? string_value(*type, path + ".type") : "audio/pcm";
  if (kind == "audio/pcm") {
    if (const json* rate = member(value, "rate")) {
      if (integer_value(*rate, path + ".rate", 0, 1 << 30) != 24000) {
        fail("unsupported_value", "Only 24000 Hz is supported for audio/pcm.", path + ".rate");
      }
    }
    return AudioFormat::kPcm16At24k;
  }
  if (member(value, "rate"))
    fail("unknown_parameter", "'rate' is only for audio/pcm.", path + ".rate");
  if (kind == "audio/pcmu") return AudioFormat::kPcmu;
  if (kind == "audio/pcma") return AudioFormat::kPcma;
  fail("unsupported_value",
       "Unsupported audio format '" + kind + "': use audio/pcm (24 kHz), audio/pcmu or audio/pcma.",
       path + ".type");
}

AudioFormat beta_format(const json& value, const std::string& path) {
  const std::string kind = string_value(value, path);
  if (kind == "pcm16") return AudioFormat::kPcm16At24k;
  if (kind == "g711_ulaw") return AudioFormat::kPcmu;
  if (kind == "g711_alaw") return AudioFormat::kPcma;
  fail("unsupported_value",
       "Unsupported input_audio_format '" + kind + "': use pcm16, g711_ulaw or g711_alaw.", path);
}

// ISO-639-1 codes (and Whisper's few three-letter ones, "haw", "yue"): lower-case letters.
std::string language_value(const json& value, const std::string& param) {
  std::string code = string_value(value, param);
  const bool letters =
      std::all_of(code.begin(), code.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  if (!code.empty() && (!letters || code.size() < 2 || code.size() > 3)) {
    fail("invalid_value", "'" + param + "' must be an ISO-639-1 language code such as \"en\".",
         param);
  }
  return code;
}

SessionUpdate::Transcription transcription_value(const json& value, const std::string& path,
                                                 bool beta) {
  require_object(value, path);
  if (beta) {
    only_keys(value, path, {"model", "language", "prompt"});
  } else {
    only_keys(value, path, {"model", "language", "prompt", "languages", "keywords", "delay"});
  }
  SessionUpdate::Transcription t;
  if (const json* model = member(value, "model")) t.model = string_value(*model, path + ".model");
  if (const json* language = member(value, "language")) {
    t.language = language_value(*language, path + ".language");
  }
  if (const json* prompt = member(value, "prompt"))
    t.prompt = string_value(*prompt, path + ".prompt");
  if (const json* languages = member(value, "languages")) {
    if (!languages->is_array() || languages->size() > 1) {
      fail("unsupported_value", "'languages' may name one language at most.", path + ".languages");
    }
    if (!languages->empty()) t.language = language_value((*languages)[0], path + ".languages");
  }
  if (const json* keywords = member(value, "keywords")) {
    // Words the search favours (the CLI's --keywords): each string "word" or "word:weight".
    if (!keywords->is_array()) {
      fail("invalid_type", "'keywords' must be an array of strings.", path + ".keywords");
    }
    for (const auto& item : *keywords) {
      const auto text = string_value(item, path + ".keywords");
      try {
        for (auto& k : parse_keywords(text)) t.keywords.push_back(std::move(k));
      } catch (const Error& e) {
        fail("invalid_value", e.what(), path + ".keywords");
      }
    }
  }
  if (member(value, "delay")) {
    fail("unsupported_value",
         "'delay' is not supported: deltas follow the speech as it is confirmed.", path + ".delay");
  }
  return t;
}

std::optional<TurnDetectorOptions> turn_detection_value(const json& value,
                                                        const std::string& path) {
  if (value.is_null()) return std::nullopt;
  require_object(value, path);
  const json* type = member(value, "type");
  if (!type)
    fail("missing_parameter", "Missing required parameter: '" + path + ".type'.", path + ".type");
  const std::string kind = string_value(*type, path + ".type");
  if (kind == "semantic_vad") {
    fail("unsupported_value", "semantic_vad is not supported; use server_vad or null.",
         path + ".type");
  }
  if (kind != "server_vad") {
    fail("invalid_value", "Invalid turn_detection type '" + kind + "': use server_vad or null.",
         path + ".type");
  }
  only_keys(value, path,
            {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms",
             "create_response", "interrupt_response"});
  TurnDetectorOptions o;
  if (const json* v = member(value, "threshold")) {
    o.threshold = static_cast<float>(number_value(*v, path + ".threshold", 0.0, 1.0));
  }
  if (const json* v = member(value, "prefix_padding_ms")) {
    o.prefix_padding_ms = integer_value(*v, path + ".prefix_padding_ms", 0, kMaxDurationMs);
  }
  if (const json* v = member(value, "silence_duration_ms")) {
    o.silence_duration_ms = integer_value(*v, path + ".silence_duration_ms", 0, kMaxDurationMs);
  }
  if (member(value, "idle_timeout_ms")) {
    fail("unsupported_value", "'idle_timeout_ms' is not supported.", path + ".idle_timeout_ms");
  }
  // create_response and interrupt_response steer model responses, which a transcription
  // session never makes: any boolean is accepted.
  for (const char* key : {"create_response", "interrupt_response"}) {
    const json* v = member(value, key);
    if (v && !v->is_boolean()) {
      std::string param = join(path, key);
      std::string message = "'";
      message.append(param).append("' must be a boolean.");
      fail("invalid_type", std::move(message), std::move(param));
    }
  }
  return o;
}

void noise_reduction_value(const json& value, const std::string& path) {
  if (!value.is_null()) {
    fail("unsupported_value", "Noise reduction is not supported; set it to null.", path);
  }
}

bool include_value(const json& value, const std::string& path) {
  if (!value.is_array()) fail("invalid_type", "'" + path + "' must be an array.", path);
  bool logprobs = false;
  for (const auto& entry : value) {
    const std::string name = string_value(entry, path);
    if (name != kLogprobsInclude) {
      fail("unsupported_value", "Unsupported include '" + name + "'.", path);
    }
    logprobs = true;
  }
  return logprobs;
}

void ga_audio_input(const json& input, const std::string& path, SessionUpdate& update) {
  require_object(input, path);
  only_keys(input, path, {"format", "transcription", "turn_detection", "noise_reduction"});
  if (const json* v = member(input, "format")) update.format = ga_format(*v, path + ".format");
  if (const json* v = member(input, "transcription")) {
    update.transcription = transcription_value(*v, path + ".transcription", false);
  }
  if (input.contains("turn_detection")) {
    update.turn_detection = turn_detection_value(input["turn_detection"], path + ".turn_detection");
  }
  if (input.contains("noise_reduction")) {
    noise_reduction_value(input["noise_reduction"], path + ".noise_reduction");
  }
}

SessionUpdate ga_session(const json& session) {
  require_object(session, "session");
  // id, object and expires_at are what session.created reports; a client may send them back.
  only_keys(session, "session", {"type", "audio", "include", "id", "object", "expires_at"});
  if (const json* type = member(session, "type")) {
    const std::string kind = string_value(*type, "session.type");
    if (kind != "transcription") {
      fail("unsupported_value",
           "Only transcription sessions are supported here (session.type \"transcription\").",
           "session.type");
    }
  }
  SessionUpdate update;
  if (const json* audio = member(session, "audio")) {
    require_object(*audio, "session.audio");
    only_keys(*audio, "session.audio", {"input"});
    if (const json* input = member(*audio, "input"))
      ga_audio_input(*input, "session.audio.input", update);
  }
  if (const json* include = member(session, "include"))
    update.logprobs = include_value(*include, "session.include");
  return update;
}

SessionUpdate beta_session(const json& session) {
  require_object(session, "session");
  only_keys(session, "session",
            {"input_audio_format", "input_audio_transcription", "turn_detection",
             "input_audio_noise_reduction", "include", "modalities", "id", "object"});
  SessionUpdate update;
  if (const json* v = member(session, "input_audio_format")) {
    update.format = beta_format(*v, "session.input_audio_format");
  }
  if (const json* v = member(session, "input_audio_transcription")) {
    update.transcription = transcription_value(*v, "session.input_audio_transcription", true);
  }
  if (session.contains("turn_detection")) {
    update.turn_detection =
        turn_detection_value(session["turn_detection"], "session.turn_detection");
  }
  if (session.contains("input_audio_noise_reduction")) {
    noise_reduction_value(session["input_audio_noise_reduction"],
                          "session.input_audio_noise_reduction");
  }
  if (const json* v = member(session, "include"))
    update.logprobs = include_value(*v, "session.include");
  // modalities: text is all a transcription session produces; any list of the two is accepted.
  if (const json* v = member(session, "modalities")) {
    if (!v->is_array())
      fail("invalid_type", "'session.modalities' must be an array.", "session.modalities");
    for (const auto& m : *v) {
      const std::string name = string_value(m, "session.modalities");
      if (name != "text" && name != "audio") {
        fail("invalid_value", "Invalid modality '" + name + "'.", "session.modalities");
      }
    }
  }
  return update;
}

bool is_openai_event(std::string_view type) {
  static constexpr std::string_view kOthers[] = {
      "conversation.item.create",   "conversation.item.delete", "conversation.item.retrieve",
      "conversation.item.truncate", "response.create",          "response.cancel",
      "output_audio_buffer.clear"};
  return std::find(std::begin(kOthers), std::end(kOthers), type) != std::end(kOthers);
}

ClientEvent event_of(const json& event, const std::string& type, std::optional<std::string> id) {
  if (type == "session.update" || type == "transcription_session.update") {
    only_keys(event, "", {"type", "event_id", "session"});
    if (!event.contains("session")) {
      fail("missing_parameter", "Missing required parameter: 'session'.", "session");
    }
    const bool beta = type == "transcription_session.update";
    return SessionUpdateEvent{std::move(id), beta,
                              beta ? beta_session(event["session"]) : ga_session(event["session"])};
  }
  if (type == "input_audio_buffer.append") {
    only_keys(event, "", {"type", "event_id", "audio"});
    if (!event.contains("audio"))
      fail("missing_parameter", "Missing required parameter: 'audio'.", "audio");
    auto bytes = decode_base64(string_value(event["audio"], "audio"));
    if (!bytes) fail("invalid_audio", "'audio' is not valid base64.", "audio");
    return AppendEvent{std::move(id), std::move(*bytes)};
  }
  if (type == "input_audio_buffer.commit" || type == "input_audio_buffer.clear") {
    only_keys(event, "", {"type", "event_id"});
    if (type == "input_audio_buffer.commit") return CommitEvent{std::move(id)};
    return ClearEvent{std::move(id)};
  }
  if (is_openai_event(type)) {
    fail("unsupported_event", "'" + type + "' is not available in a transcription session.",
         "type");
  }
  fail("unknown_event", "Unknown event type '" + type + "'.", "type");
}

}  // namespace

void SessionUpdate::apply_to(SessionConfig& config) const {
  if (format) config.format = *format;
  if (transcription) {
    if (transcription->model) config.model = *transcription->model;
    config.language = transcription->language;
    config.prompt = transcription->prompt;
    config.keywords = transcription->keywords;
  }
  if (turn_detection) config.turn_detection = *turn_detection;
  if (logprobs) config.logprobs = *logprobs;
}

std::variant<ClientEvent, EventError> parse_client_event(std::string_view text,
                                                         const ParseLimits& limits) {
  if (text.size() > limits.max_event_bytes) {
    return EventError{"event_too_large",
                      "The event is " + std::to_string(text.size()) + " bytes; the limit is " +
                          std::to_string(limits.max_event_bytes) + ".",
                      "", std::nullopt};
  }
  const json event = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) {
    return EventError{"invalid_json", "The event is not valid JSON.", "", std::nullopt};
  }
  std::optional<std::string> id;
  try {
    if (!event.is_object()) fail("invalid_event", "The event must be a JSON object.", "");
    if (const json* v = member(event, "event_id")) id = string_value(*v, "event_id");
    const json* type = member(event, "type");
    if (!type) fail("missing_parameter", "Missing required parameter: 'type'.", "type");
    return event_of(event, string_value(*type, "type"), id);
  } catch (Failure& failure) {
    failure.error.event_id = id;
    return std::move(failure.error);
  }
}

}  // namespace amanuensis::realtime
