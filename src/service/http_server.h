// cpp-httplib's server, with the connection handling replaced by ours.
//
// httplib::Server is kept for what it does well: request-line and header parsing, routing,
// chunked responses. Its connection loop (process_and_close_socket, the virtual its own
// SSLServer overrides) is replaced so that:
//   - a handler can see its connection: whether the client has gone (so a long transcription is
//     cancelled when nobody waits for it) and ask for it to be closed after the response;
//   - multipart bodies reach us unparsed: httplib 0.11.4 always runs its own multipart parser,
//     which we cannot fuzz and which fails with a bare 400 (see multipart.h);
//   - shutdown stops accepting while streaming responses finish (httplib's stop() makes its
//     chunked writer give up mid-stream);
//   - a rejected upload's unread body is drained briefly before closing ("lingering close"), so
//     the client reads our 413 instead of a connection reset.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

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

  // The request's Content-Type as the client sent it (httplib's copy may be masked).
  [[nodiscard]] const std::string& content_type() const { return content_type_; }
  [[nodiscard]] Clock::time_point request_started() const { return request_started_; }

 private:
  friend class HttpServer;
  int socket_;
  bool close_ = false;
  std::string content_type_;
  Clock::time_point request_started_ = Clock::now();
};

class HttpServer : public httplib::Server {
 public:
  // `connection_threads` connections are served at once; more wait to be accepted.
  explicit HttpServer(std::size_t connection_threads);

  // The connection of the request the calling thread is handling; nullptr outside a handler.
  static Connection* current_connection();

  // Serves the requests in `stream` as if they had come on a connection: how the fuzz target
  // and unit tests drive the full request path without a socket.
  void serve_stream(httplib::Stream& stream);

  // Stops accepting connections; listen_after_bind() returns once those in progress have
  // finished their current request. Callable from any thread, once.
  void stop_accepting();
  [[nodiscard]] bool stopping() const { return stopping_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  void serve(httplib::Stream& stream, Connection& connection);
  // Waits for the next request on an idle keep-alive connection; false to close it.
  [[nodiscard]] bool wait_for_next_request(int socket) const;

  std::atomic<bool> stopping_{false};
};

}  // namespace amanuensis::service
