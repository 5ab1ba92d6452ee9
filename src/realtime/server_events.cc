#include "realtime/server_events.h"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string>

#include "realtime/ids.h"

namespace amanuensis::realtime {

namespace {

using nlohmann::json;

constexpr std::string_view kLogprobsInclude = "item.input_audio_transcription.logprobs";

// Text from the decoder is valid UTF-8 (the tokenizer replaces broken bytes), but a dump must
// never throw: anything else is replaced too.
std::string text_of(const json& event) {
  return event.dump(-1, ' ', false, json::error_handler_t::replace);
}

json base(std::string_view type) { return json{{"type", type}, {"event_id", random_id("event_")}}; }

json optional_string(const std::string& value) {
  return value.empty() ? json(nullptr) : json(value);
}

json turn_detection_json(const SessionConfig& config) {
  if (!config.turn_detection) return nullptr;
  const auto& t = *config.turn_detection;
  return {{"type", "server_vad"},
          {"threshold", t.threshold},
          {"prefix_padding_ms", t.prefix_padding_ms},
          {"silence_duration_ms", t.silence_duration_ms}};
}

json format_json(AudioFormat format) {
  switch (format) {
    case AudioFormat::kPcmu:
      return {{"type", "audio/pcmu"}};
    case AudioFormat::kPcma:
      return {{"type", "audio/pcma"}};
    case AudioFormat::kPcm16At24k:
      break;
  }
  return {{"type", "audio/pcm"}, {"rate", 24000}};
}

const char* beta_format_name(AudioFormat format) {
  switch (format) {
    case AudioFormat::kPcmu:
      return "g711_ulaw";
    case AudioFormat::kPcma:
      return "g711_alaw";
    case AudioFormat::kPcm16At24k:
      break;
  }
  return "pcm16";
}

json transcription_json(const SessionConfig& config) {
  json out = {{"model", config.model},
              {"language", optional_string(config.language)},
              {"prompt", config.prompt}};
  if (!config.keywords.empty()) {
    json keywords = json::array();
    for (const auto& k : config.keywords) {
      std::array<char, 32> weight{};
      const auto end = std::to_chars(weight.data(), weight.data() + weight.size(), k.weight).ptr;
      keywords.push_back(k.weight == 1.0F ? k.text
                                          : k.text + ":" + std::string(weight.data(), end));
    }
    out["keywords"] = std::move(keywords);
  }
  return out;
}

json include_json(const SessionConfig& config) {
  return config.logprobs ? json::array({kLogprobsInclude}) : json::array();
}

json logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  json out = json::array();
  for (const auto& l : logprobs)
    out.push_back({{"token", l.token}, {"logprob", l.logprob}, {"bytes", l.bytes}});
  return out;
}

}  // namespace

std::string session_event(std::string_view type, const std::string& session_id,
                          const SessionConfig& config) {
  json event = base(type);
  event["session"] = {{"type", "transcription"},
                      {"id", session_id},
                      {"object", "realtime.transcription_session"},
                      {"audio",
                       {{"input",
                         {{"format", format_json(config.format)},
                          {"transcription", transcription_json(config)},
                          {"turn_detection", turn_detection_json(config)},
                          {"noise_reduction", nullptr}}}}},
                      {"include", include_json(config)}};
  return text_of(event);
}

std::string beta_session_updated(const std::string& session_id, const SessionConfig& config) {
  json event = base("transcription_session.updated");
  event["session"] = {
      {"id", session_id},
      {"object", "realtime.transcription_session"},
      // The beta type requires a client secret; this server issues none, so it is empty.
      {"client_secret", {{"value", ""}, {"expires_at", 0}}},
      {"input_audio_format", beta_format_name(config.format)},
      {"input_audio_transcription", transcription_json(config)},
      {"turn_detection", turn_detection_json(config)},
      {"input_audio_noise_reduction", nullptr},
      {"modalities", json::array({"text"})},
      {"include", include_json(config)}};
  return text_of(event);
}

std::string speech_started_event(const std::string& item, std::int64_t audio_start_ms) {
  json event = base("input_audio_buffer.speech_started");
  event["item_id"] = item;
  event["audio_start_ms"] = audio_start_ms;
  return text_of(event);
}

std::string speech_stopped_event(const std::string& item, std::int64_t audio_end_ms) {
  json event = base("input_audio_buffer.speech_stopped");
  event["item_id"] = item;
  event["audio_end_ms"] = audio_end_ms;
  return text_of(event);
}

std::string committed_event(const std::string& item, const std::string& previous_item) {
  json event = base("input_audio_buffer.committed");
  event["item_id"] = item;
  event["previous_item_id"] = optional_string(previous_item);
  return text_of(event);
}

std::string cleared_event() { return text_of(base("input_audio_buffer.cleared")); }

std::string delta_event(const std::string& item, const std::string& delta,
                        const Logprobs& logprobs) {
  json event = base("conversation.item.input_audio_transcription.delta");
  event["item_id"] = item;
  event["content_index"] = 0;
  event["delta"] = delta;
  if (logprobs) event["logprobs"] = logprobs_json(*logprobs);
  return text_of(event);
}

std::string completed_event(const std::string& item, const std::string& transcript,
                            const Logprobs& logprobs, double audio_seconds) {
  json event = base("conversation.item.input_audio_transcription.completed");
  event["item_id"] = item;
  event["content_index"] = 0;
  event["transcript"] = transcript;
  if (logprobs) event["logprobs"] = logprobs_json(*logprobs);
  event["usage"] = {{"type", "duration"}, {"seconds", audio_seconds}};
  return text_of(event);
}

std::string failed_event(const std::string& item, const std::string& message) {
  json event = base("conversation.item.input_audio_transcription.failed");
  event["item_id"] = item;
  event["content_index"] = 0;
  event["error"] = {{"type", "transcription_error"},
                    {"code", "transcription_failed"},
                    {"message", message},
                    {"param", nullptr}};
  return text_of(event);
}

std::string error_event(const EventError& error) {
  json event = base("error");
  event["error"] = {{"type", error.type},
                    {"code", error.code},
                    {"message", error.message},
                    {"param", optional_string(error.param)},
                    {"event_id", error.event_id ? json(*error.event_id) : json(nullptr)}};
  return text_of(event);
}

}  // namespace amanuensis::realtime
