// One realtime transcription session (OpenAI's Realtime API, intent=transcription), independent of
// its transport: the WebSocket handler feeds it each text message and sends what it hands to
// `send`. It answers session updates, turns appended audio into 16 kHz samples for a
// LiveTranscriber and reports turns, deltas and transcripts as server events. Every bad event
// (invalid JSON, unknown type, bad base64, unsupported format, a full buffer) is answered with an
// error event and changes nothing: the session stays usable.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "realtime/audio_input.h"
#include "realtime/events.h"
#include "realtime/live_transcriber.h"

namespace amanuensis::realtime {

struct RealtimeSessionConfig {
  DecodeFunction decode;  // model_decoder(model) in the service
  Executor executor;      // runs decodes (the service's worker pool)
  // Receives each server event's JSON text. Calls never overlap and come in the order the
  // events happen, from the thread calling on_message or from the executor's.
  std::function<void(std::string event)> send;
  // The configuration before any session.update (format, turn detection, model name...).
  SessionConfig initial;
  // Limits, re-decode interval, VAD model and decode options; the session sets language, prompt,
  // turn detection and logprobs from its configuration.
  LiveOptions live;
  ParseLimits parse_limits;
  // Optional checks of a session.update's transcription model and language: an error message
  // when the server cannot use it (reported as invalid_value); unset: any is accepted.
  std::function<std::optional<std::string>(const std::string& model)> check_model;
  std::function<std::optional<std::string>(const std::string& language)> check_language;
};

class RealtimeSession {
 public:
  // Sends session.created. Throws Error when turn detection is on and no VAD model loads.
  explicit RealtimeSession(RealtimeSessionConfig config);
  ~RealtimeSession();  // close()
  RealtimeSession(const RealtimeSession&) = delete;
  RealtimeSession& operator=(const RealtimeSession&) = delete;

  // One client event (a WebSocket text message). Call from one thread at a time.
  void on_message(std::string_view text);
  // The client went away: decoding is cancelled and nothing more is sent.
  void close();
  // Waits until every committed turn is transcribed (tests; a graceful shutdown).
  void wait_idle();

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] const SessionConfig& config() const { return config_; }

 private:
  void send(std::string event);
  void send_error(const EventError& error);
  void handle(const SessionUpdateEvent& event);
  void handle(const AppendEvent& event);
  void handle(const CommitEvent& event);
  void handle(const ClearEvent& event);
  [[nodiscard]] LiveOptions live_options(const SessionConfig& config) const;
  [[nodiscard]] LiveCallbacks callbacks();

  RealtimeSessionConfig settings_;
  std::string id_;
  SessionConfig config_;
  AudioInput audio_input_;
  std::mutex send_mutex_;
  bool closed_ = false;  // guarded by send_mutex_
  std::unique_ptr<LiveTranscriber> transcriber_;
};

}  // namespace amanuensis::realtime
