// An httplib::Stream over bytes in memory: what a client sent, and what the server answered.
// Lets unit tests and the HTTP fuzz target drive HttpServer::serve_stream without a socket.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

namespace amanuensis::test_support {

class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string input) : input_(std::move(input)) {}
  using httplib::Stream::write;

  [[nodiscard]] bool is_readable() const override { return position_ < input_.size(); }
  [[nodiscard]] bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const auto count = std::min(size, input_.size() - position_);
    std::copy_n(input_.data() + position_, count, ptr);
    position_ += count;
    return static_cast<ssize_t>(count);
  }
  ssize_t write(const char* ptr, size_t size) override {
    output_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8000;
  }
  [[nodiscard]] socket_t socket() const override { return INVALID_SOCKET; }
  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  std::string input_;
  std::size_t position_ = 0;
  std::string output_;
};

}  // namespace amanuensis::test_support
