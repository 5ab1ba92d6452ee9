#include "realtime/session.h"

#include <exception>
#include <utility>
#include <variant>

#include "realtime/ids.h"
#include "realtime/server_events.h"

namespace amanuensis::realtime {

RealtimeSession::RealtimeSession(RealtimeSessionConfig config)
    : settings_(std::move(config)),
      id_(random_id("sess_")),
      config_(settings_.initial),
      audio_input_(config_.format) {
  transcriber_ = std::make_unique<LiveTranscriber>(settings_.decode, live_options(config_),
                                                   settings_.executor, callbacks());
  send(session_event("session.created", id_, config_));
}

RealtimeSession::~RealtimeSession() { close(); }

void RealtimeSession::close() {
  {
    const std::lock_guard lock(send_mutex_);
    closed_ = true;
  }
  transcriber_->close();
}

void RealtimeSession::wait_idle() { transcriber_->wait_idle(); }

void RealtimeSession::send(std::string event) {
  const std::lock_guard lock(send_mutex_);
  if (!closed_ && settings_.send) settings_.send(std::move(event));
}

void RealtimeSession::send_error(const EventError& error) { send(error_event(error)); }

LiveCallbacks RealtimeSession::callbacks() {
  // The transcriber calls these one at a time, from this thread or the executor's; `send` keeps
  // them whole and in order with the session's own events.
  LiveCallbacks c;
  c.on_speech_started = [this](const std::string& item, std::int64_t ms) {
    send(speech_started_event(item, ms));
  };
  c.on_speech_stopped = [this](const std::string& item, std::int64_t ms) {
    send(speech_stopped_event(item, ms));
  };
  c.on_committed = [this](const std::string& item, const std::string& previous) {
    send(committed_event(item, previous));
  };
  c.on_delta = [this](const std::string& item, const std::string& delta, const Logprobs& lp) {
    send(delta_event(item, delta, lp));
  };
  c.on_completed = [this](const std::string& item, const std::string& transcript,
                          const Logprobs& lp,
                          double seconds) { send(completed_event(item, transcript, lp, seconds)); };
  c.on_failed = [this](const std::string& item, const std::string& error) {
    send(failed_event(item, error));
  };
  return c;
}

LiveOptions RealtimeSession::live_options(const SessionConfig& config) const {
  LiveOptions o = settings_.live;
  o.decode.language = config.language;
  o.decode.initial_prompt = config.prompt;
  o.decode.keywords = config.keywords;
  o.turn_detection = config.turn_detection;
  o.logprobs = config.logprobs;
  return o;
}

void RealtimeSession::on_message(std::string_view text) {
  if (closed_) return;
  auto parsed = parse_client_event(text, settings_.parse_limits);
  if (auto* error = std::get_if<EventError>(&parsed)) {
    send_error(*error);
    return;
  }
  auto& event = std::get<ClientEvent>(parsed);
  try {
    std::visit([this](const auto& e) { handle(e); }, event);
  } catch (const std::exception& e) {
    // Not the client's fault (the VAD model failed to load, memory ran out): reported, and the
    // session goes on.
    EventError error{"server_error", e.what(), "", std::nullopt, "server_error"};
    std::visit([&](const auto& ev) { error.event_id = ev.event_id; }, event);
    send_error(error);
  }
}

void RealtimeSession::handle(const SessionUpdateEvent& event) {
  SessionConfig next = config_;
  event.update.apply_to(next);
  const std::string path =
      event.beta ? "session.input_audio_transcription" : "session.audio.input.transcription";
  const auto check = [&](const auto& checker, const std::string& value, const char* field) {
    if (!checker || value.empty()) return true;
    if (auto message = checker(value)) {
      send_error({"invalid_value", std::move(*message), path + "." + field, event.event_id});
      return false;
    }
    return true;
  };
  if (!check(settings_.check_model, next.model, "model") ||
      !check(settings_.check_language, next.language, "language")) {
    return;
  }
  transcriber_->set_options(live_options(next));
  if (next.format != config_.format) audio_input_ = AudioInput(next.format);
  config_ = std::move(next);
  send(event.beta ? beta_session_updated(id_, config_)
                  : session_event("session.updated", id_, config_));
}

void RealtimeSession::handle(const AppendEvent& event) {
  const auto samples = audio_input_.push(event.audio);
  try {
    transcriber_->push(samples);
  } catch (const BufferFull& full) {
    send_error({"input_audio_buffer_full", full.what(), "audio", event.event_id});
  }
}

void RealtimeSession::handle(const CommitEvent& event) {
  if (!transcriber_->commit()) {
    send_error({"input_audio_buffer_commit_empty",
                "Error committing input audio buffer: it holds less than 100 ms of audio.", "",
                event.event_id});
  }
}

void RealtimeSession::handle(const ClearEvent& /*event*/) {
  transcriber_->clear();
  audio_input_.reset();
  send(cleared_event());
}

}  // namespace amanuensis::realtime
