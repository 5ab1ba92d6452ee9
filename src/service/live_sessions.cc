#include "service/live_sessions.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "realtime/events.h"
#include "realtime/server_events.h"
#include "realtime/session.h"
#include "service/api_error.h"
#include "service/form_options.h"
#include "service/worker_pool.h"

namespace amanuensis::service {

namespace {

using Clock = std::chrono::steady_clock;

// How often the reaper looks for idle sessions.
constexpr auto kReapInterval = std::chrono::milliseconds(250);

// The model a session decodes with: `?model=` on its URL when that names one of the server's
// models, else the default (OpenAI's realtime URL names a realtime model, not a Whisper one).
std::string session_model(const ServiceContext& context, const Request& request) {
  if (!request.has_param("model")) return {};
  auto requested = request.get_param_value("model");
  for (const auto& model : context.models().list()) {
    if (model.name == requested) return requested;
  }
  return {};
}

// Close codes (RFC 6455 7.4.1): 1000 normal closure, 1003 unsupported data, 1011 server error.
constexpr std::uint16_t kCloseNormal = 1000;

// One decode of a live turn, as a worker-pool task.
class LiveDecode final : public PoolTask {
 public:
  explicit LiveDecode(std::function<void()> work) : work_(std::move(work)) {}
  void run() noexcept override {
    // The transcriber reports its own failures; nothing escapes it but a broken invariant.
    try {
      work_();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "serve: a live transcription failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "serve: a live transcription failed\n");
    }
  }

 private:
  std::function<void()> work_;
};

realtime::EventError refusal(std::string code, std::string message) {
  realtime::EventError error;
  error.code = std::move(code);
  error.message = std::move(message);
  return error;
}

}  // namespace

// The WebSocket application of one session.
class LiveSession final : public WebSocketApp {
 public:
  // The peer is held weakly: it owns this application, and a strong reference back would keep
  // both alive forever.
  LiveSession(LiveSessions& owner, const std::shared_ptr<WebSocketPeer>& peer)
      : owner_(owner), peer_(peer) {}

  void start(realtime::RealtimeSessionConfig config) {
    session_ = std::make_unique<realtime::RealtimeSession>(std::move(config));
  }

  void on_text(std::string_view message) override {
    touch();
    session_->on_message(message);
  }

  void on_binary(std::string_view /*message*/) override {
    touch();
    if (const auto peer = peer_.lock()) {
      peer->send_text(realtime::error_event(refusal(
          "invalid_event", "binary messages are not events: send each event as JSON text")));
    }
  }

  void on_closed() override {
    session_->close();
    owner_.forget(this);
  }

  // True when no client event came for `timeout`.
  [[nodiscard]] bool idle_for(Clock::duration timeout) const {
    return Clock::now() - Clock::time_point(Clock::duration(last_event_.load())) > timeout;
  }

  void expire(double seconds) {
    const auto peer = peer_.lock();
    if (!peer || expired_.exchange(true)) return;
    peer->send_text(realtime::error_event(
        refusal("session_idle_timeout", "no event for " + std::to_string(std::lround(seconds)) +
                                            " s (--live-idle-timeout): the session ends")));
    peer->close(kCloseNormal, "idle timeout");
  }

 private:
  void touch() { last_event_ = Clock::now().time_since_epoch().count(); }

  LiveSessions& owner_;
  std::weak_ptr<WebSocketPeer> peer_;
  std::unique_ptr<realtime::RealtimeSession> session_;
  std::atomic<Clock::rep> last_event_{Clock::now().time_since_epoch().count()};
  std::atomic<bool> expired_{false};
};

LiveSessions::LiveSessions(ServiceContext& context)
    : context_(context), reaper_([this](const std::stop_token& stop) { reap_idle(stop); }) {
  context.registry().gauge("amanuensis_live_sessions", "Live transcription sessions open",
                           [this] { return count(); });
}

LiveSessions::~LiveSessions() {
  reaper_.request_stop();
  wake_.notify_all();
}

int LiveSessions::count() const {
  const std::lock_guard lock(mutex_);
  return static_cast<int>(sessions_.size());
}

std::shared_ptr<WebSocketApp> LiveSessions::open(const Request& request,
                                                 const std::shared_ptr<WebSocketPeer>& peer) {
  if (context_.draining()) throw unavailable("the server is shutting down");
  // 503 while starting; held (kept loaded) as long as the session decodes with it.
  const auto model = context_.acquire_model(session_model(context_, request));
  context_.require_vad();  // server_vad is the default turn detection
  const auto& config = context_.config();
  auto session = std::make_shared<LiveSession>(*this, peer);
  {
    const std::lock_guard lock(mutex_);
    if (static_cast<int>(sessions_.size()) >= config.max_live_sessions) {
      throw too_many_requests("too many live sessions: " + std::to_string(sessions_.size()) +
                                  " are open (--max-live-sessions " +
                                  std::to_string(config.max_live_sessions) + "); retry later",
                              1);
    }
    sessions_.insert(session);
  }

  realtime::RealtimeSessionConfig settings;
  settings.decode = [lease = model.lease, decode = realtime::model_decoder(*model.lease)](
                        std::span<const float> audio, const TranscribeOptions& options,
                        std::stop_token stop) { return decode(audio, options, std::move(stop)); };
  settings.executor = [this](std::function<void()> work) {
    if (!context_.pool().submit_unbounded(std::make_shared<LiveDecode>(std::move(work)))) {
      throw Error("the server is shutting down");
    }
  };
  settings.send = [weak = std::weak_ptr<WebSocketPeer>(peer)](std::string event) {
    if (const auto peer = weak.lock()) peer->send_text(std::move(event));
  };
  settings.live.max_buffered_seconds = config.max_live_buffer_seconds;
  const std::string model_name = model.name;
  const bool multilingual = model->info().multilingual;
  const bool is_default = model_name == context_.models().default_name();
  settings.check_model = [model_name,
                          is_default](const std::string& name) -> std::optional<std::string> {
    if (name.empty() || name == model_name || (is_default && is_default_model_alias(name))) {
      return std::nullopt;
    }
    return "this session decodes with model '" + model_name + "'" +
           (is_default ? " (also reachable as '" + std::string(kOpenAiModelAlias) + "')" : "") +
           ", not '" + name + "'; open the session with ?model=NAME to choose another";
  };
  settings.check_language =
      [model_name, multilingual](const std::string& language) -> std::optional<std::string> {
    if (language.empty() || multilingual || language == "en") return std::nullopt;
    return "model '" + model_name + "' is English-only; it cannot transcribe language '" +
           language + "'";
  };
  try {
    session->start(std::move(settings));
  } catch (...) {
    forget(session.get());
    throw;
  }
  return session;
}

void LiveSessions::forget(const LiveSession* session) {
  const std::lock_guard lock(mutex_);
  std::erase_if(sessions_, [session](const auto& held) { return held.get() == session; });
}

void LiveSessions::reap_idle(const std::stop_token& stop) {
  const double seconds = context_.config().live_idle_timeout_seconds;
  const auto timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (!stop.stop_requested()) {
    std::vector<std::shared_ptr<LiveSession>> idle;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, stop, kReapInterval, [] { return false; });
      if (seconds <= 0) continue;
      for (const auto& session : sessions_) {
        if (session->idle_for(timeout)) idle.push_back(session);
      }
    }
    // Outside the lock: closing may end the session, which forgets itself under it.
    for (const auto& session : idle) session->expire(seconds);
  }
}

}  // namespace amanuensis::service
