// A WebSocket session on the I/O threads: the handshake, a read loop that hands whole messages
// to the application, and a queue of outgoing messages written one at a time (Beast allows one
// write in flight), ending with a close frame when the application or a shutdown asks for one.
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "service/http_session.h"

namespace amanuensis::service {

namespace websocket = boost::beast::websocket;

namespace {

// On SIGTERM a session gets "going away" and this long to finish its closing handshake.
constexpr auto kShutdownGrace = std::chrono::seconds(2);

}  // namespace

class WebSocketSession final : public Stoppable,
                               public WebSocketPeer,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(HttpServer& server, HttpServer::Impl& impl) : server_(server), impl_(impl) {}
  WebSocketSession(const WebSocketSession&) = delete;
  WebSocketSession& operator=(const WebSocketSession&) = delete;
  ~WebSocketSession() override {
    if (key_) impl_.remove(*key_);
  }

  void start(beast::tcp_stream stream, http::request<http::string_body> request,
             std::shared_ptr<WebSocketApp> app, const std::string& protocol);

  void send_text(std::string message) override {
    const std::lock_guard lock(mutex_);
    if (finished_ || close_) return;
    queued_ += message.size();
    queue_.push_back(std::move(message));
    schedule_write();
  }

  void close(std::uint16_t code, std::string reason) override {
    const std::lock_guard lock(mutex_);
    if (finished_ || close_) return;
    close_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    schedule_write();
  }

  [[nodiscard]] std::size_t queued_bytes() const override {
    const std::lock_guard lock(mutex_);
    return queued_;
  }

  void stop() override;

 private:
  // Under mutex_: has the strand write what is queued, unless a write is already on its way.
  void schedule_write() {
    if (!executor_ || writing_) return;
    writing_ = true;
    net::post(*executor_, [self = shared_from_this()] { self->write_next(); });
  }
  void on_accept(const beast::error_code& error);
  void read();
  void on_read(const beast::error_code& error);
  void write_next();
  void on_write(const beast::error_code& error);
  void finish();
  void abort() {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }

  HttpServer& server_;
  HttpServer::Impl& impl_;
  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  std::optional<net::any_io_executor> executor_;  // set once the handshake starts
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;  // the upgrade request
  std::shared_ptr<WebSocketApp> app_;
  std::optional<std::uint64_t> key_;
  std::unique_ptr<net::steady_timer> grace_;

  mutable std::mutex mutex_;  // guards what the application's threads touch:
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;
  std::optional<websocket::close_reason> close_;
  bool writing_ = false;   // a write_next() is scheduled or a write is in flight
  bool closing_ = false;   // the close frame is on its way
  bool accepted_ = false;  // the handshake is done: writes may start
  bool finished_ = false;
};

void WebSocketSession::start(beast::tcp_stream stream, http::request<http::string_body> request,
                             std::shared_ptr<WebSocketApp> app, const std::string& protocol) {
  app_ = std::move(app);
  request_ = std::move(request);  // kept until the handshake completes
  ws_.emplace(std::move(stream));
  // Beast's own timeouts: 30 s for the handshakes, and pings when the peer has been silent, so
  // a vanished client is noticed.
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.keep_alive_pings = true;
  ws_->set_option(timeouts);
  ws_->read_message_max(kWebSocketMessageLimit);
  ws_->set_option(websocket::stream_base::decorator([protocol](websocket::response_type& response) {
    response.set(http::field::server, "amanuensis");
    if (!protocol.empty()) response.set(http::field::sec_websocket_protocol, protocol);
  }));
  key_ = impl_.add(weak_from_this());
  server_.websocket_opened();
  {
    const std::lock_guard lock(mutex_);
    executor_ = ws_->get_executor();
    writing_ = true;  // nothing goes out before the handshake's answer
  }
  ws_->async_accept(request_, [self = shared_from_this()](const beast::error_code& error) {
    self->on_accept(error);
  });
}

void WebSocketSession::on_accept(const beast::error_code& error) {
  if (error) return finish();
  {
    const std::lock_guard lock(mutex_);
    accepted_ = true;
  }
  read();
  write_next();  // what the application queued meanwhile
}

void WebSocketSession::read() {
  ws_->async_read(buffer_, [self = shared_from_this()](const beast::error_code& error,
                                                       std::size_t) { self->on_read(error); });
}

void WebSocketSession::on_read(const beast::error_code& error) {
  // Closed by either side, too big (Beast has sent 1009), timed out, reset: the session is over.
  if (error) return finish();
  const auto data = buffer_.cdata();
  const std::string_view message(static_cast<const char*>(data.data()), data.size());
  try {
    if (ws_->got_text()) {
      app_->on_text(message);
    } else {
      app_->on_binary(message);
    }
  } catch (...) {
    close(static_cast<std::uint16_t>(websocket::close_code::internal_error), "internal error");
  }
  buffer_.consume(buffer_.size());
  read();
}

void WebSocketSession::write_next() {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  if (!queue_.empty()) {
    const std::string& message = queue_.front();  // stays put while the deque grows at the back
    lock.unlock();
    ws_->text(true);
    ws_->async_write(net::buffer(message),
                     [self = shared_from_this()](const beast::error_code& error, std::size_t) {
                       self->on_write(error);
                     });
    return;
  }
  if (close_ && !closing_) {
    closing_ = true;
    const auto reason = *close_;
    lock.unlock();
    // The read loop sees the peer's answering close frame and ends the session.
    ws_->async_close(reason, [self = shared_from_this()](const beast::error_code& error) {
      if (error) self->abort();
    });
    return;
  }
  writing_ = false;
}

void WebSocketSession::on_write(const beast::error_code& error) {
  {
    const std::lock_guard lock(mutex_);
    queued_ -= queue_.front().size();
    queue_.pop_front();
  }
  if (error) return abort();  // the read loop fails next and finishes the session
  write_next();
}

void WebSocketSession::finish() {
  std::shared_ptr<WebSocketApp> app;
  {
    const std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    app = std::move(app_);
  }
  abort();
  if (grace_) grace_->cancel();
  // The application may hold its peer (this session) forever; dropping our reference to the
  // application breaks the cycle.
  if (app) app->on_closed();
  server_.websocket_closed();
}

void WebSocketSession::stop() {
  std::optional<net::any_io_executor> executor;
  {
    const std::lock_guard lock(mutex_);
    executor = executor_;
  }
  if (!executor) return;
  net::post(*executor, [self = shared_from_this()] {
    if (self->finished_) return;
    self->close(static_cast<std::uint16_t>(websocket::close_code::going_away),
                "the server is shutting down");
    self->grace_ = std::make_unique<net::steady_timer>(self->ws_->get_executor(), kShutdownGrace);
    self->grace_->async_wait([self](const beast::error_code& error) {
      if (!error) self->abort();
    });
  });
}

std::shared_ptr<WebSocketSession> make_websocket_session(HttpServer& server,
                                                         HttpServer::Impl& impl) {
  return std::make_shared<WebSocketSession>(server, impl);
}

std::shared_ptr<WebSocketPeer> as_peer(const std::shared_ptr<WebSocketSession>& session) {
  return session;
}

void start_websocket_session(const std::shared_ptr<WebSocketSession>& session,
                             beast::tcp_stream stream, http::request<http::string_body> request,
                             std::shared_ptr<WebSocketApp> app, const std::string& protocol) {
  session->start(std::move(stream), std::move(request), std::move(app), protocol);
}

}  // namespace amanuensis::service
