// A blocking connection to Redis (hiredis) that reconnects after a failure, so that workers and
// servers ride out a Redis restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;  // NOLINT(readability-identifier-naming): hiredis's own names
struct redisReply;    // NOLINT(readability-identifier-naming)

namespace amanuensis::jobs {

// Thrown when Redis cannot be reached or answers with an error.
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A reply, owned. Arrays nest.
class Reply {
 public:
  explicit Reply(redisReply* reply);

  [[nodiscard]] bool is_nil() const;
  [[nodiscard]] bool is_array() const;
  [[nodiscard]] std::string text() const;            // string, status or integer as text
  [[nodiscard]] long long integer() const;           // integer reply, or a numeric string
  [[nodiscard]] std::size_t size() const;            // elements of an array
  [[nodiscard]] Reply element(std::size_t i) const;  // a non-owning view into an array

 private:
  Reply(std::shared_ptr<redisReply> owner, redisReply* view);
  std::shared_ptr<redisReply> owner_;
  redisReply* reply_;
};

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int database = 0;
};

// redis://host:port/db (every part optional). Throws RedisError for anything else.
RedisAddress parse_redis_url(std::string_view url);

class RedisConnection {
 public:
  explicit RedisConnection(RedisAddress address);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  // Runs one command (binary-safe arguments). A broken connection is re-opened and the command
  // retried once; Redis error replies and a second failure throw RedisError.
  Reply command(const std::vector<std::string_view>& arguments);

 private:
  void connect();
  void disconnect() noexcept;

  RedisAddress address_;
  redisContext* context_ = nullptr;  // owned; hiredis has no RAII type of its own
};

}  // namespace amanuensis::jobs
