// The HTTP server: event-driven connections on Boost.Asio, requests parsed by Boost.Beast,
// blocking route handlers on a bounded thread pool, and WebSocket endpoints.
//
// Why event-driven: a thread per connection let 48 clients that each sent half a request starve
// /health. Here a connection costs a socket and a buffer until its request (header and body) has
// arrived whole; only then does a handler thread take it. The handler writes its response
// synchronously on the socket (no asynchronous operation is pending on it meanwhile), which keeps
// the handlers' code simple: they wait for the worker pool and stream server-sent events as
// plain blocking code. Then the connection goes back to the I/O threads for its next request.
//
// What the layer decides before any handler runs (on an I/O thread): the API-key check (the
// pre-routing handler), Expect: 100-continue, and an upload over the body limit (413, then a
// lingering close so the client reads the answer instead of a reset).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "service/http_types.h"
#include "service/websocket.h"

namespace amanuensis::service {

// What a handler may learn about, and ask of, the connection its request came on.
class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Connection(int socket) : socket_(socket) {}

  // True once the client has closed or reset its end. Polls the socket; never reads from it.
  [[nodiscard]] bool peer_gone() const;

  // Closes the connection after this response: its body was left unread, say. A handler that
  // sets this before reading the body clears it once the body is read.
  void close_after_response(bool close = true) { close_ = close; }
  [[nodiscard]] bool closing() const { return close_; }

  // The request's Content-Type as the client sent it.
  [[nodiscard]] const std::string& content_type() const { return content_type_; }
  [[nodiscard]] Clock::time_point request_started() const { return request_started_; }

  // For the connection code: a new request begins; `last` when the connection ends after it
  // (the client asked, the keep-alive count is spent, or the server is stopping).
  void begin_request(std::string content_type, bool last) {
    close_ = false;
    last_ = last;
    content_type_ = std::move(content_type);
    request_started_ = Clock::now();
  }
  [[nodiscard]] bool last_request() const { return last_; }

 private:
  int socket_;
  bool close_ = false;
  bool last_ = false;
  std::string content_type_;
  Clock::time_point request_started_ = Clock::now();
};

// Why the HTTP layer answered a request itself, for the error handler to word the answer.
struct HttpFailure {
  enum class Kind {
    kNotFound,         // no route (the request was read whole)
    kUnparsable,       // not HTTP, or a header over the limit: the connection closes
    kBodyTooLarge,     // over the body limit, declared or found while reading: closes
    kBodyIncomplete,   // the body ended early or its chunking was malformed: closes
    kUpgradeRequired,  // a plain request on a WebSocket path
    kNeedsSocket,      // a WebSocket upgrade in serve_bytes(), which has no socket
  };
  explicit HttpFailure(Kind kind, std::size_t limit = 0,
                       std::optional<std::uint64_t> declared = std::nullopt,
                       std::size_t received = 0)
      : kind(kind), limit(limit), declared(declared), received(received) {}

  Kind kind;
  std::size_t limit = 0;                  // the body limit, for kBodyTooLarge
  std::optional<std::uint64_t> declared;  // Content-Length, when the request declared one
  std::size_t received = 0;               // body bytes read, for kBodyIncomplete
};

class HttpServer {
 public:
  // Handlers may take the request's body (move it out), hence the non-const Request.
  using Handler = std::function<void(Request&, Response&)>;
  enum class HandlerResponse { kHandled, kUnhandled };
  using PreRoutingHandler = std::function<HandlerResponse(const Request&, Response&)>;
  using ExpectContinueHandler = std::function<int(const Request&, Response&)>;
  using ErrorHandler = std::function<void(const Request&, Response&, const HttpFailure&)>;
  using ExceptionHandler = std::function<void(const Request&, Response&, std::exception_ptr)>;
  using Logger = std::function<void(const Request&, const Response&)>;

  // `handler_threads` requests are handled at once; more wait, read whole, for a thread.
  explicit HttpServer(std::size_t handler_threads);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Routes: `pattern` is a regular expression matched against the whole decoded path; its groups
  // become Request::matches. GET routes answer HEAD too (without the body).
  void on_get(const std::string& pattern, Handler handler);
  void on_post(const std::string& pattern, Handler handler);
  void on_delete(const std::string& pattern, Handler handler);
  // A WebSocket endpoint at exactly `path`.
  void websocket(std::string path, WebSocketFactory factory);

  // Runs on the I/O thread once a request's header is in, before its body is read.
  void set_pre_routing_handler(PreRoutingHandler handler) { pre_routing_ = std::move(handler); }
  // "Expect: 100-continue": returns 100 to have the body sent, or the status of the refusal
  // (whose body it has set).
  void set_expect_100_continue_handler(ExpectContinueHandler handler) {
    expect_continue_ = std::move(handler);
  }
  void set_error_handler(ErrorHandler handler) { error_handler_ = std::move(handler); }
  void set_exception_handler(ExceptionHandler handler) { exception_handler_ = std::move(handler); }
  // Called once per answered request, after its response was written.
  void set_logger(Logger logger) { logger_ = std::move(logger); }

  void set_payload_max_length(std::size_t bytes) { body_limit_ = bytes; }
  void set_read_timeout(std::chrono::seconds timeout) { read_timeout_ = timeout; }
  void set_write_timeout(std::chrono::seconds timeout) { write_timeout_ = timeout; }
  void set_keep_alive_timeout(std::chrono::seconds timeout) { keep_alive_timeout_ = timeout; }
  void set_keep_alive_max_count(std::size_t count) { keep_alive_max_ = count; }

  // Binds (and listens, with room for thousands of pending connections); the port, or -1.
  int bind_to_any_port(const std::string& host);
  bool bind_to_port(const std::string& host, int port);
  // Serves until stop_accepting() and the connections' end. Returns false when the listening
  // socket failed rather than being stopped.
  bool listen_after_bind();
  // Stops accepting connections. Idle keep-alive connections close, requests in progress (SSE
  // streams included) finish, WebSocket sessions get 1001 "going away" and a short grace; then
  // listen_after_bind() returns. Callable from any thread, more than once.
  void stop_accepting();
  [[nodiscard]] bool stopping() const { return stopping_; }

  // The connection of the request the calling thread is handling; nullptr outside a handler.
  static Connection* current_connection();

  // Serves the requests in `input` as if they had come on one connection, and returns what was
  // written back: how the fuzz target and unit tests drive the request path without a socket.
  std::string serve_bytes(std::string_view input);

  // Open WebSocket sessions.
  [[nodiscard]] std::size_t websocket_count() const { return websockets_; }

  // --- for the connection code (http_connection.cc, websocket_session.cc) ---------------------
  struct Limits {
    std::size_t body = 0;
    std::size_t header = 0;
    std::chrono::seconds read_timeout{}, write_timeout{}, keep_alive_timeout{};
    std::size_t keep_alive_max = 0;
  };
  [[nodiscard]] Limits limits() const;
  // What to do once a request's header is in.
  struct HeaderVerdict {
    enum class Action { kReadBody, kContinue, kRespond, kUpgrade } action = Action::kReadBody;
    Response response;  // kRespond: the answer (then close if `close`)
    bool close = false;
    std::shared_ptr<WebSocketApp> app;    // kUpgrade
    std::string protocol;                 // kUpgrade: the subprotocol to select, if any
    std::shared_ptr<WebSocketPeer> peer;  // kUpgrade: the peer given to the factory
  };
  // `peer_factory` makes the peer for a WebSocket upgrade (the session, not yet started).
  HeaderVerdict check_header(const Request& request, Connection& connection,
                             const std::function<std::shared_ptr<WebSocketPeer>()>& peer_factory);
  // Routes `request`, runs its handler and writes the response to `out`. Returns whether the
  // connection may serve another request.
  class ByteSink;
  bool dispatch(Request& request, Connection& connection, ByteSink& out);
  // The answer to a failure the layer found itself.
  Response failure_response(const Request& request, Connection& connection,
                            const HttpFailure& failure);
  void log(const Request& request, const Response& response, Connection& connection) const;
  struct Impl;
  Impl& impl() { return *impl_; }
  void websocket_opened() { ++websockets_; }
  void websocket_closed() { --websockets_; }

  // Where dispatch() writes a response: a socket, or a string for serve_bytes().
  class ByteSink {
   public:
    ByteSink() = default;
    ByteSink(const ByteSink&) = delete;
    ByteSink& operator=(const ByteSink&) = delete;
    virtual ~ByteSink() = default;
    virtual bool write(std::string_view bytes) = 0;  // all of it, or false
    [[nodiscard]] virtual bool peer_gone() const = 0;
  };

 private:
  struct Route {
    std::string method;
    std::regex pattern;
    Handler handler;
  };

  void add_route(std::string method, const std::string& pattern, Handler handler);
  const Route* find_route(Request& request) const;
  void run_handler(const Route* route, Request& request, Response& response);
  bool write_response(const Request& request, Response& response, bool close, ByteSink& out);

  std::vector<Route> routes_;
  std::vector<std::pair<std::string, WebSocketFactory>> websockets_routes_;
  PreRoutingHandler pre_routing_;
  ExpectContinueHandler expect_continue_;
  ErrorHandler error_handler_;
  ExceptionHandler exception_handler_;
  Logger logger_;
  std::size_t body_limit_ = 8 * 1024 * 1024;
  std::chrono::seconds read_timeout_{30}, write_timeout_{30}, keep_alive_timeout_{5};
  std::size_t keep_alive_max_ = 1000;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> websockets_{0};
  std::unique_ptr<Impl> impl_;
};

// Makes `connection` the current one for the handlers that run on this thread.
class CurrentConnection {
 public:
  explicit CurrentConnection(Connection& connection);
  CurrentConnection(const CurrentConnection&) = delete;
  CurrentConnection& operator=(const CurrentConnection&) = delete;
  ~CurrentConnection();

 private:
  Connection* previous_;
};

}  // namespace amanuensis::service
