// The client events of an OpenAI realtime transcription session, parsed from their JSON text and
// checked field by field. Everything the session cannot honour is an error naming the field, so
// that a client never believes a setting took effect when it did not. Both the GA form
// (session.update with session.type "transcription") and the older beta form
// (transcription_session.update) are read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "realtime/audio_input.h"
#include "realtime/turn_detector.h"

namespace amanuensis::realtime {

// A session's whole configuration, as session.created and session.updated report it.
struct SessionConfig {
  AudioFormat format = AudioFormat::kPcm16At24k;
  std::string model = "whisper-1";  // audio.input.transcription.model, as the client named it
  std::string language;             // empty: detect
  std::string prompt;
  std::vector<Keyword>
      keywords;  // audio.input.transcription.keywords (each "word" or "word:weight")
  std::optional<TurnDetectorOptions> turn_detection = TurnDetectorOptions{};  // unset: commits
  bool logprobs = false;  // include: item.input_audio_transcription.logprobs
};

// The fields a session update sets; unset ones keep their value. A present transcription or
// turn_detection object replaces the whole object (its absent fields take their defaults).
struct SessionUpdate {
  std::optional<AudioFormat> format;
  struct Transcription {
    std::optional<std::string> model;
    std::string language;
    std::string prompt;
    std::vector<Keyword> keywords;
  };
  std::optional<Transcription> transcription;
  std::optional<std::optional<TurnDetectorOptions>> turn_detection;
  std::optional<bool> logprobs;

  void apply_to(SessionConfig& config) const;
};

struct SessionUpdateEvent {
  std::optional<std::string> event_id;
  bool beta = false;  // transcription_session.update: answered with transcription_session.updated
  SessionUpdate update;
};
struct AppendEvent {
  std::optional<std::string> event_id;
  std::vector<std::uint8_t> audio;  // decoded from base64
};
struct CommitEvent {
  std::optional<std::string> event_id;
};
struct ClearEvent {
  std::optional<std::string> event_id;
};
using ClientEvent = std::variant<SessionUpdateEvent, AppendEvent, CommitEvent, ClearEvent>;

// An invalid_request_error, as OpenAI reports it in an error event.
struct EventError {
  std::string code;  // invalid_json, invalid_event, unknown_event, missing_parameter,
                     // unknown_parameter, invalid_type, invalid_value, unsupported_value,
                     // invalid_audio, event_too_large
  std::string message;
  std::string param;                    // the field at fault ("session.audio.input.format"), or ""
  std::optional<std::string> event_id;  // the client event's, when it had one
  std::string type = "invalid_request_error";  // or "server_error" (not the client's fault)
};

struct ParseLimits {
  // JSON text longer than this is refused before it is parsed (OpenAI allows 15 MiB appends).
  std::size_t max_event_bytes = std::size_t{16} << 20;
};

// One client event from its JSON text: the event, or the error to report. Never throws for bad
// input (only std::bad_alloc).
std::variant<ClientEvent, EventError> parse_client_event(std::string_view json,
                                                         const ParseLimits& limits = {});

}  // namespace amanuensis::realtime
