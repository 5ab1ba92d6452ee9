// The live transcription sessions of /v1/realtime: each WebSocket's RealtimeSession, their
// limits (--max-live-sessions, --live-idle-timeout, --max-live-buffer-seconds) and the thread
// that ends idle ones.
//
// A session costs no thread of its own: its events are handled on the HTTP layer's I/O threads
// (parsing, resampling, the VAD: microseconds per 32 ms of audio), its decodes run in the shared
// worker pool beside the uploads, one at a time per session.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "service/service_context.h"
#include "service/websocket.h"

namespace amanuensis::service {

class LiveSession;

class LiveSessions {
 public:
  explicit LiveSessions(ServiceContext& context);
  LiveSessions(const LiveSessions&) = delete;
  LiveSessions& operator=(const LiveSessions&) = delete;
  ~LiveSessions();  // stops the idle reaper

  // A new session on `peer`, for the WebSocket factory. Throws ApiError: 429 when
  // --max-live-sessions are open, 503 while the model loads or the server drains, 501 when turn
  // detection has no VAD model.
  std::shared_ptr<WebSocketApp> open(const Request& request,
                                     const std::shared_ptr<WebSocketPeer>& peer);

  [[nodiscard]] int count() const;

 private:
  friend class LiveSession;
  void forget(const LiveSession* session);
  void reap_idle(const std::stop_token& stop);

  ServiceContext& context_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::unordered_set<std::shared_ptr<LiveSession>> sessions_;
  std::jthread reaper_;
};

}  // namespace amanuensis::service
