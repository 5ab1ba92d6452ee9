#include "service/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace amanuensis::service {

namespace {

using Clock = std::chrono::steady_clock;

// How often an idle keep-alive connection checks for shutdown.
constexpr int kIdlePollMs = 100;
// A rejected request's unread body is drained for at most this long / this much before closing.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 64 * 1024 * 1024;

thread_local Connection* t_connection = nullptr;

// Makes `connection` the current one for the handlers that run on this thread.
class CurrentConnection {
 public:
  explicit CurrentConnection(Connection& connection) : previous_(t_connection) {
    t_connection = &connection;
  }
  CurrentConnection(const CurrentConnection&) = delete;
  CurrentConnection& operator=(const CurrentConnection&) = delete;
  ~CurrentConnection() { t_connection = previous_; }

 private:
  Connection* previous_;
};

// poll() on one descriptor, retried on EINTR; the returned events, or 0 on timeout.
short poll_one(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int result = 0;
  do {
    result = ::poll(&p, 1, timeout_ms);
  } while (result < 0 && errno == EINTR);
  return result > 0 ? p.revents : 0;
}

int to_ms(time_t seconds, time_t microseconds) {
  return static_cast<int>(seconds * 1000 + microseconds / 1000);
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? ::getpeername(fd, raw, &length) : ::getsockname(fd, raw, &length)) != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// httplib::Stream over an accepted socket, with poll() instead of httplib's select() (no
// FD_SETSIZE limit) and MSG_NOSIGNAL writes.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  using httplib::Stream::write;

  [[nodiscard]] bool is_readable() const override {
    return (poll_one(fd_, POLLIN, read_timeout_ms_) & (POLLIN | POLLHUP)) != 0;
  }

  [[nodiscard]] bool is_writable() const override {
    return (poll_one(fd_, POLLOUT, write_timeout_ms_) & POLLOUT) != 0 &&
           (poll_one(fd_, POLLRDHUP, 0) & (POLLRDHUP | POLLHUP | POLLERR)) == 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!is_readable()) return -1;  // timed out
    ssize_t n = 0;
    do {
      n = ::recv(fd_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  ssize_t write(const char* ptr, size_t size) override {
    if ((poll_one(fd_, POLLOUT, write_timeout_ms_) & POLLOUT) == 0) return -1;
    ssize_t n = 0;
    do {
      n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, /*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, /*peer=*/false, ip, port);
  }
  [[nodiscard]] socket_t socket() const override { return fd_; }

 private:
  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
};

// Sends our FIN, then reads and drops what the client still sends (the rest of a body we
// refused) until it closes, for a bounded time: closing with unread data would make the kernel
// answer with a reset, and the client would lose our response.
void lingering_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = Clock::now() + kLingerTime;
  std::size_t drained = 0;
  char buffer[16 * 1024];
  while (drained < kLingerBytes) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || poll_one(fd, POLLIN, static_cast<int>(left.count())) == 0) break;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
}

}  // namespace

bool Connection::peer_gone() const {
  if (socket_ < 0) return false;  // an in-memory stream has no peer to lose
  // POLLRDHUP: the client shut down or closed its end. Plain POLLIN would only mean it sent
  // more (a pipelined request), which is no reason to stop.
  return (poll_one(socket_, POLLRDHUP, 0) & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

HttpServer::HttpServer(std::size_t connection_threads) {
  // httplib's API takes ownership of a raw TaskQueue pointer (it wraps it in a unique_ptr).
  new_task_queue = [connection_threads] {
    // httplib's new_task_queue factory must return a raw owning pointer (httplib owns it then).
    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): httplib's API, see above
    return new httplib::ThreadPool(connection_threads);
  };
}

Connection* HttpServer::current_connection() { return t_connection; }

bool HttpServer::process_and_close_socket(socket_t sock) {
  Connection connection(sock);
  {
    SocketStream stream(sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                        to_ms(write_timeout_sec_, write_timeout_usec_));
    serve(stream, connection);
  }
  if (connection.closing()) {
    lingering_close(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
  }
  ::close(sock);
  return true;
}

void HttpServer::serve_stream(httplib::Stream& stream) {
  Connection connection(-1);
  serve(stream, connection);
}

void HttpServer::serve(httplib::Stream& stream, Connection& connection) {
  const CurrentConnection current(connection);
  const int socket = connection.socket_;
  for (std::size_t served = 0; served < keep_alive_max_count_; ++served) {
    // The first request of a connection is served even while stopping: it was accepted before.
    if (served > 0 && socket >= 0 && !wait_for_next_request(socket)) break;
    connection.close_ = false;
    connection.content_type_.clear();
    connection.request_started_ = Clock::now();
    const bool last = stopping_ || served + 1 == keep_alive_max_count_;
    bool client_closes = false;
    const bool ok = process_request(stream, last, client_closes, [&](httplib::Request& request) {
      connection.request_started_ = Clock::now();
      connection.content_type_ = request.get_header_value("Content-Type");
      // Hide a multipart body from httplib so that it reaches our handlers unparsed.
      if (request.is_multipart_form_data()) {
        request.headers.erase("Content-Type");
        request.headers.emplace("Content-Type", "application/octet-stream");
      }
    });
    if (!ok || client_closes || last || connection.closing()) break;
  }
}

bool HttpServer::wait_for_next_request(int socket) const {
  const auto deadline = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  while (!stopping_) {
    const auto events = poll_one(socket, POLLIN, kIdlePollMs);
    if ((events & (POLLHUP | POLLERR | POLLNVAL)) != 0) return false;
    if ((events & POLLIN) != 0) return true;
    if (Clock::now() >= deadline) return false;
  }
  return false;
}

void HttpServer::stop_accepting() {
  if (stopping_.exchange(true)) return;
  // Not stop(): it marks the listening socket invalid, and httplib's chunked writer then cuts
  // every streaming response short. shutdown() makes the blocked accept() fail instead, so
  // listen_after_bind() stops accepting, closes the socket and waits for the connections.
  const socket_t sock = svr_sock_;
  if (sock != INVALID_SOCKET) ::shutdown(sock, SHUT_RDWR);
}

}  // namespace amanuensis::service
