// HttpServer's lifecycle: binding, the accept loop, the I/O and handler threads, and the
// SIGTERM drain.
#include <sys/resource.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <utility>

#include "service/http_session.h"

namespace amanuensis::service {

namespace {

// I/O threads: parsing and WebSocket frames are cheap; two keep one busy socket from delaying
// the others while leaving the cores to the workers.
constexpr std::size_t kIoThreads = 2;
// Pending connections the kernel holds for us (capped by net.core.somaxconn): 1000 clients
// connecting at once must not be refused.
constexpr int kListenBacklog = 4096;
// After an accept error (out of descriptors, say), wait this long before trying again.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// Each connection holds a descriptor: raise the soft limit (often 1024) to the hard one.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

void accept_next(HttpServer& server, HttpServer::Impl& impl);

void on_accept(HttpServer& server, HttpServer::Impl& impl, const beast::error_code& error,
               tcp::socket socket) {
  if (!impl.acceptor.is_open()) return;  // stopped
  if (error) {
    // Out of descriptors or memory, or the client left before accept(): try again shortly
    // rather than spinning or giving up.
    auto timer = std::make_shared<net::steady_timer>(impl.accept_strand, kAcceptRetry);
    timer->async_wait([&server, &impl, timer](const beast::error_code&) {
      if (impl.acceptor.is_open()) accept_next(server, impl);
    });
    return;
  }
  start_http_session(server, impl, std::move(socket));
  accept_next(server, impl);
}

void accept_next(HttpServer& server, HttpServer::Impl& impl) {
  // Each connection gets its own strand: its handlers never run concurrently.
  impl.acceptor.async_accept(net::make_strand(impl.io),
                             [&server, &impl](const beast::error_code& error, tcp::socket socket) {
                               on_accept(server, impl, error, std::move(socket));
                             });
}

}  // namespace

void HandlerPool::start() {
  for (std::size_t i = 0; i < size_; ++i) threads_.emplace_back([this] { run(); });
}

void HandlerPool::post(std::function<void()> task) {
  {
    const std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  ready_.notify_one();
}

void HandlerPool::join() {
  {
    const std::lock_guard lock(mutex_);
    ending_ = true;
  }
  ready_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

void HandlerPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return ending_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

std::uint64_t HttpServer::Impl::add(std::weak_ptr<Stoppable> session) {
  std::unique_lock lock(mutex);
  if (stopped) {
    lock.unlock();
    if (auto live = session.lock()) live->stop();
    lock.lock();
  }
  sessions.emplace(next_key, std::move(session));
  return next_key++;
}

void HttpServer::Impl::remove(std::uint64_t key) {
  const std::lock_guard lock(mutex);
  sessions.erase(key);
}

void HttpServer::Impl::stop_all() {
  std::vector<std::shared_ptr<Stoppable>> live;
  {
    const std::lock_guard lock(mutex);
    stopped = true;
    for (const auto& [key, session] : sessions) {
      if (auto s = session.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& session : live) session->stop();
}

HttpServer::HttpServer(std::size_t handler_threads)
    : impl_(std::make_unique<Impl>(handler_threads)) {}

HttpServer::~HttpServer() = default;

bool HttpServer::bind_to_port(const std::string& host, int port) {
  raise_open_file_limit();
  beast::error_code error;
  const auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, error);
  if (error) return false;
  auto& acceptor = impl_->acceptor;
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(net::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(kListenBacklog, error);
  if (error) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return false;
  }
  return true;
}

int HttpServer::bind_to_any_port(const std::string& host) {
  if (!bind_to_port(host, 0)) return -1;
  beast::error_code error;
  const auto endpoint = impl_->acceptor.local_endpoint(error);
  return error ? -1 : endpoint.port();
}

bool HttpServer::listen_after_bind() {
  if (!stopping_ && impl_->acceptor.is_open()) accept_next(*this, *impl_);
  impl_->pool.start();
  // run() returns once nothing is left to do: the acceptor closed and every session ended (a
  // request in a handler holds work on the context until it hands its connection back).
  std::vector<std::thread> others;
  for (std::size_t i = 1; i < kIoThreads; ++i) others.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& thread : others) thread.join();
  impl_->pool.join();
  return stopping_;
}

void HttpServer::stop_accepting() {
  if (stopping_.exchange(true)) return;
  net::post(impl_->accept_strand, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->stop_all();
  });
}

}  // namespace amanuensis::service
