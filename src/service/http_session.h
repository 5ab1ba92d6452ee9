// Internals of HttpServer shared by its files (http_server.cc, http_connection.cc,
// websocket_session.cc): the I/O context, the handler threads and the registry of live sessions.
// Route code never includes this; Boost stays behind it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "service/http_server.h"

namespace amanuensis::service {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;  // NOLINT(readability-identifier-naming): Asio's usual alias

// A session the server can ask to wind down on SIGTERM. stop() may be called from any thread.
class Stoppable {
 public:
  Stoppable() = default;
  Stoppable(const Stoppable&) = delete;
  Stoppable& operator=(const Stoppable&) = delete;
  virtual ~Stoppable() = default;
  virtual void stop() = 0;
};

// The threads that run route handlers: blocking code (waiting for the worker pool, streaming
// server-sent events), kept off the I/O threads. Fixed size; requests beyond it wait, read whole.
class HandlerPool {
 public:
  explicit HandlerPool(std::size_t threads) : size_(threads) {}
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;
  ~HandlerPool() { join(); }

  void start();
  void post(std::function<void()> task);
  // Runs the tasks already queued, then ends the threads.
  void join();

 private:
  void run();

  std::size_t size_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool ending_ = false;
  std::vector<std::thread> threads_;
};

struct HttpServer::Impl {
  explicit Impl(std::size_t handler_threads) : pool(handler_threads) {}

  // Registers a session so that stop_all() reaches it; returns its key for remove().
  std::uint64_t add(std::weak_ptr<Stoppable> session);
  void remove(std::uint64_t key);
  void stop_all();

  net::io_context io;
  // The acceptor's completions and its closing (stop_accepting) run on one strand: with two I/O
  // threads, a completion checking is_open() would otherwise race with close().
  net::strand<net::io_context::executor_type> accept_strand = net::make_strand(io);
  tcp::acceptor acceptor{accept_strand};
  HandlerPool pool;
  std::mutex mutex;
  std::map<std::uint64_t, std::weak_ptr<Stoppable>> sessions;
  std::uint64_t next_key = 0;
  bool stopped = false;  // under `mutex`: sessions added later are stopped at once
};

// Serves HTTP (and upgrades to WebSocket) on an accepted socket until it closes.
void start_http_session(HttpServer& server, HttpServer::Impl& impl, tcp::socket socket);

// The handler-facing request for a parsed header.
Request request_from_header(const http::request_header<>& header, std::string remote_addr,
                            int remote_port);

// A WebSocket session: the peer handed to the factory before the handshake, started after it.
class WebSocketSession;
std::shared_ptr<WebSocketSession> make_websocket_session(HttpServer& server,
                                                         HttpServer::Impl& impl);
std::shared_ptr<WebSocketPeer> as_peer(const std::shared_ptr<WebSocketSession>& session);
// Takes over `stream`: answers the handshake for `request` (selecting `protocol` when not empty),
// then runs `app` until the session ends.
void start_websocket_session(const std::shared_ptr<WebSocketSession>& session,
                             beast::tcp_stream stream, http::request<http::string_body> request,
                             std::shared_ptr<WebSocketApp> app, const std::string& protocol);

}  // namespace amanuensis::service
