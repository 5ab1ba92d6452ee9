// The server events of a realtime transcription session, as JSON text in the shape of OpenAI's
// (checked against the openai SDK's types by tests/unit/realtime_sdk_check.py). Each carries a
// fresh event_id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "realtime/events.h"
#include "realtime/live_transcriber.h"

namespace amanuensis::realtime {

// session.created or session.updated (`type`), with the whole configuration in the GA shape.
std::string session_event(std::string_view type, const std::string& session_id,
                          const SessionConfig& config);
// transcription_session.updated, the beta API's answer, in the beta shape.
std::string beta_session_updated(const std::string& session_id, const SessionConfig& config);

std::string speech_started_event(const std::string& item, std::int64_t audio_start_ms);
std::string speech_stopped_event(const std::string& item, std::int64_t audio_end_ms);
std::string committed_event(const std::string& item, const std::string& previous_item);
std::string cleared_event();

std::string delta_event(const std::string& item, const std::string& delta,
                        const Logprobs& logprobs);
std::string completed_event(const std::string& item, const std::string& transcript,
                            const Logprobs& logprobs, double audio_seconds);
std::string failed_event(const std::string& item, const std::string& message);

// An "error" event with the error's type, code, message, param and the client event's id.
std::string error_event(const EventError& error);

}  // namespace amanuensis::realtime
