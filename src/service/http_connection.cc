// One HTTP connection as a state machine on the I/O threads: wait for a request (costing no
// thread), read its header and body under timeouts, answer what the layer decides alone (401,
// 413, 400, 100-continue), hand a complete request to a handler thread, and take the connection
// back afterwards for the next keep-alive request, a WebSocket upgrade, or a (lingering) close.
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cerrno>
#include <optional>
#include <utility>

#include "service/http_session.h"

namespace amanuensis::service {

namespace {

// Bytes read while waiting for a request to start (the header read continues from them).
constexpr std::size_t kFirstRead = 4096;
// A refused request's unread body is drained for at most this long / this much before closing.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 64 * 1024 * 1024;
constexpr std::size_t kDrainChunk = 16 * 1024;

using Parser = http::request_parser<http::string_body>;

// Writes a handler's response on the socket from the handler thread, with a timeout per write:
// no asynchronous operation is pending on the socket meanwhile. (Asio has made the descriptor
// non-blocking; poll() waits for room.)
class SocketSink final : public HttpServer::ByteSink {
 public:
  SocketSink(int fd, std::chrono::seconds timeout)
      : fd_(fd), timeout_ms_(static_cast<int>(timeout.count() * 1000)) {}

  bool write(std::string_view bytes) override {
    while (!bytes.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      const int ready = ::poll(&p, 1, timeout_ms_);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0 || (p.revents & POLLOUT) == 0) return false;
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  [[nodiscard]] bool peer_gone() const override { return Connection(fd_).peer_gone(); }

 private:
  int fd_;
  int timeout_ms_;
};

// Errors that mean the client left or stalled: nobody to answer.
bool client_left(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == http::error::partial_message ||
         error == beast::error::timeout || error == net::error::operation_aborted ||
         error == net::error::connection_reset || error == net::error::eof;
}

class HttpSession final : public Stoppable, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(HttpServer& server, HttpServer::Impl& impl, tcp::socket socket)
      : server_(server),
        impl_(impl),
        limits_(server.limits()),
        executor_(socket.get_executor()),
        stream_(std::move(socket)),
        connection_(stream_.socket().native_handle()) {
    beast::error_code error;
    const auto peer = stream_.socket().remote_endpoint(error);
    if (!error) {
      remote_addr_ = peer.address().to_string();
      remote_port_ = peer.port();
    }
  }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  ~HttpSession() override { impl_.remove(key_); }

  void start() {
    key_ = impl_.add(weak_from_this());
    net::post(executor_, [self = shared_from_this()] { self->wait_for_request(); });
  }

  void stop() override {
    net::post(executor_, [self = shared_from_this()] {
      // Only a connection between requests closes now; one mid-request is answered first.
      if (self->state_ == State::kIdle) self->close();
    });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kClosing };

  void wait_for_request();
  void read_header();
  void on_header(const beast::error_code& error);
  void read_body();
  void on_body(const beast::error_code& error);
  void handle();
  void after_response(bool keep_alive);
  void respond(const Response& response, bool close);
  void respond_failure(HttpFailure failure) {
    respond(server_.failure_response(request_, connection_, failure), true);
  }
  void upgrade(HttpServer::HeaderVerdict& verdict);
  void linger();
  void drain();
  void close() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  HttpServer& server_;
  HttpServer::Impl& impl_;
  HttpServer::Limits limits_;
  net::any_io_executor executor_;  // the connection's strand; outlives a move of stream_
  beast::tcp_stream stream_;
  Connection connection_;
  std::string remote_addr_;
  int remote_port_ = 0;
  std::uint64_t key_ = 0;
  State state_ = State::kIdle;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  Request request_;
  std::string out_;  // an answer being written by the I/O thread
  std::size_t served_ = 0;
  std::size_t drained_ = 0;
  std::shared_ptr<WebSocketSession> websocket_;
};

void HttpSession::wait_for_request() {
  state_ = State::kIdle;
  if (server_.stopping()) return close();
  if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
  // The wait for a request to start is bounded by the keep-alive timeout between requests, by
  // the read timeout before the first; it holds no thread.
  stream_.expires_after(served_ == 0 ? limits_.read_timeout : limits_.keep_alive_timeout);
  stream_.async_read_some(
      buffer_.prepare(kFirstRead),
      [self = shared_from_this()](const beast::error_code& error, std::size_t bytes) {
        self->buffer_.commit(bytes);
        if (error || bytes == 0) return self->close();
        self->read_header();
      });
}

void HttpSession::read_header() {
  state_ = State::kReading;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits_.header));
  parser_->body_limit(boost::none);  // the declared length is checked once the header is in
  stream_.expires_after(limits_.read_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](const beast::error_code& error, std::size_t) {
                            self->on_header(error);
                          });
}

void HttpSession::on_header(const beast::error_code& error) {
  request_ = Request();
  request_.remote_addr = remote_addr_;
  request_.remote_port = remote_port_;
  if (error) {
    if (client_left(error)) return close();
    connection_.begin_request({}, true);
    return respond_failure(HttpFailure(HttpFailure::Kind::kUnparsable));
  }
  request_ = request_from_header(parser_->get().base(), remote_addr_, remote_port_);
  request_.keep_alive = parser_->get().keep_alive();
  ++served_;
  connection_.begin_request(
      request_.get_header_value("Content-Type"),
      !request_.keep_alive || served_ >= limits_.keep_alive_max || server_.stopping());
  auto verdict = server_.check_header(request_, connection_, [this] {
    websocket_ = make_websocket_session(server_, impl_);
    return as_peer(websocket_);
  });
  using Action = HttpServer::HeaderVerdict::Action;
  switch (verdict.action) {
    case Action::kRespond:
      // Answered without reading the body: where the next request starts is unknown.
      return respond(verdict.response, verdict.close || !parser_->is_done());
    case Action::kUpgrade:
      return upgrade(verdict);
    case Action::kContinue:
      out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(limits_.write_timeout);
      return net::async_write(stream_, net::buffer(out_),
                              [self = shared_from_this()](const beast::error_code& e, std::size_t) {
                                if (e) return self->close();
                                self->read_body();
                              });
    case Action::kReadBody:
      return read_body();
  }
}

void HttpSession::read_body() {
  if (parser_->is_done()) return handle();
  parser_->body_limit(limits_.body);
  stream_.expires_after(limits_.read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](const beast::error_code& error, std::size_t) {
                     self->on_body(error);
                   });
}

void HttpSession::on_body(const beast::error_code& error) {
  if (error == http::error::body_limit) {
    return respond_failure(
        HttpFailure(HttpFailure::Kind::kBodyTooLarge, limits_.body, request_.content_length(), 0));
  }
  if (error == net::error::operation_aborted || error == net::error::connection_reset) {
    return close();
  }
  if (error) {
    // Ended early (the client half-closed or stalled past the read timeout) or malformed
    // chunking: say so, if the client still listens.
    return respond_failure(HttpFailure(HttpFailure::Kind::kBodyIncomplete, limits_.body,
                                       request_.content_length(), parser_->get().body().size()));
  }
  request_.body = std::move(parser_->get().body());
  handle();
}

void HttpSession::handle() {
  state_ = State::kHandling;
  stream_.expires_never();
  // The work guard keeps the I/O threads running (and the server from finishing its drain)
  // while the handler runs with no operation pending on the socket.
  impl_.pool.post([self = shared_from_this(), work = net::make_work_guard(impl_.io)] {
    SocketSink out(self->stream_.socket().native_handle(), self->limits_.write_timeout);
    const bool keep_alive = self->server_.dispatch(self->request_, self->connection_, out);
    net::post(self->executor_, [self, keep_alive] { self->after_response(keep_alive); });
  });
}

void HttpSession::after_response(bool keep_alive) {
  request_ = Request();
  parser_.reset();
  if (!keep_alive) return connection_.closing() ? linger() : close();
  wait_for_request();
}

void HttpSession::respond(const Response& response, bool close) {
  close = close || connection_.last_request() || server_.stopping();
  out_ = serialize_head(response, close, false, response.body.size());
  if (request_.method != "HEAD") out_ += response.body;
  server_.log(request_, response, connection_);
  stream_.expires_after(limits_.write_timeout);
  net::async_write(stream_, net::buffer(out_),
                   [self = shared_from_this(), close](const beast::error_code& error, std::size_t) {
                     if (error) return self->close();
                     if (close) return self->linger();
                     self->after_response(true);
                   });
}

void HttpSession::upgrade(HttpServer::HeaderVerdict& verdict) {
  state_ = State::kClosing;  // the stream is the WebSocket session's from here on
  Response switching;
  switching.status = 101;
  server_.log(request_, switching, connection_);
  stream_.expires_never();
  start_websocket_session(websocket_, std::move(stream_), parser_->release(),
                          std::move(verdict.app), verdict.protocol);
}

// Sends our FIN, then reads and drops what the client still sends (the rest of a body we
// refused) until it closes, for a bounded time: closing with unread data would make the kernel
// answer with a reset, and the client would lose our response.
void HttpSession::linger() {
  state_ = State::kClosing;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTime);
  drained_ = 0;
  buffer_.clear();
  drain();
}

void HttpSession::drain() {
  stream_.async_read_some(
      buffer_.prepare(kDrainChunk),
      [self = shared_from_this()](const beast::error_code& error, std::size_t bytes) {
        self->drained_ += bytes;
        if (error || self->drained_ >= kLingerBytes) return self->close();
        self->drain();
      });
}

}  // namespace

void start_http_session(HttpServer& server, HttpServer::Impl& impl, tcp::socket socket) {
  std::make_shared<HttpSession>(server, impl, std::move(socket))->start();
}

Request request_from_header(const http::request_header<>& header, std::string remote_addr,
                            int remote_port) {
  Request request;
  request.method = std::string(header.method_string());
  request.target = std::string(header.target());
  split_target(request.target, request.path, request.params);
  for (const auto& field : header) {
    request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
  }
  request.remote_addr = std::move(remote_addr);
  request.remote_port = remote_port;
  return request;
}

}  // namespace amanuensis::service
