#include "jobs/redis_connection.h"

#include <hiredis/hiredis.h>

#include <charconv>

namespace amanuensis::jobs {

namespace {

constexpr std::chrono::seconds kConnectTimeout{2};

std::string describe(const redisContext* context) {
  if (context == nullptr) return "cannot allocate a Redis context";
  return context->errstr[0] != '\0' ? context->errstr : "connection failed";
}

}  // namespace

Reply::Reply(redisReply* reply)
    : owner_(reply, [](redisReply* r) { freeReplyObject(r); }), reply_(reply) {}

Reply::Reply(std::shared_ptr<redisReply> owner, redisReply* view)
    : owner_(std::move(owner)), reply_(view) {}

bool Reply::is_nil() const { return reply_->type == REDIS_REPLY_NIL; }
bool Reply::is_array() const { return reply_->type == REDIS_REPLY_ARRAY; }

std::string Reply::text() const {
  switch (reply_->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return {reply_->str, reply_->len};
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply_->integer);
    default:
      return "";
  }
}

long long Reply::integer() const {
  if (reply_->type == REDIS_REPLY_INTEGER) return reply_->integer;
  long long value = 0;
  const auto text = this->text();
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::size_t Reply::size() const { return is_array() ? reply_->elements : 0; }

Reply Reply::element(std::size_t i) const {
  if (i >= size()) throw RedisError("Redis reply has no element " + std::to_string(i));
  return {owner_, reply_->element[i]};
}

RedisAddress parse_redis_url(std::string_view url) {
  RedisAddress address;
  constexpr std::string_view kScheme = "redis://";
  if (url.starts_with(kScheme)) {
    url.remove_prefix(kScheme.size());
  } else if (url.find("://") != std::string_view::npos) {
    throw RedisError("unsupported Redis URL '" + std::string(url) +
                     "' (expected redis://host:port/db)");
  }
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    const auto db = url.substr(slash + 1);
    if (!db.empty() &&
        std::from_chars(db.data(), db.data() + db.size(), address.database).ec != std::errc{}) {
      throw RedisError("bad database number in Redis URL: " + std::string(db));
    }
    url = url.substr(0, slash);
  }
  if (const auto colon = url.rfind(':'); colon != std::string_view::npos) {
    const auto port = url.substr(colon + 1);
    if (std::from_chars(port.data(), port.data() + port.size(), address.port).ec != std::errc{} ||
        address.port <= 0 || address.port > 65535) {
      throw RedisError("bad port in Redis URL: " + std::string(port));
    }
    url = url.substr(0, colon);
  }
  if (!url.empty()) address.host = std::string(url);
  return address;
}

RedisConnection::RedisConnection(RedisAddress address) : address_(std::move(address)) {}

RedisConnection::~RedisConnection() { disconnect(); }

void RedisConnection::disconnect() noexcept {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

void RedisConnection::connect() {
  disconnect();
  const timeval timeout{static_cast<time_t>(kConnectTimeout.count()), 0};
  context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, timeout);
  if (context_ == nullptr || context_->err != 0) {
    const auto reason = describe(context_);
    disconnect();
    throw RedisError("cannot connect to Redis at " + address_.host + ":" +
                     std::to_string(address_.port) + ": " + reason);
  }
  if (address_.database != 0) {
    const auto db = std::to_string(address_.database);
    (void)command({"SELECT", db});
  }
}

Reply RedisConnection::command(const std::vector<std::string_view>& arguments) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto argument : arguments) {
    pointers.push_back(argument.data());
    lengths.push_back(argument.size());
  }
  for (int attempt = 0;; ++attempt) {
    if (context_ == nullptr) connect();
    auto* raw = static_cast<redisReply*>(redisCommandArgv(
        context_, static_cast<int>(pointers.size()), pointers.data(), lengths.data()));
    if (raw == nullptr) {
      // The connection broke (Redis restarted, say): reconnect and try the command once more.
      const auto reason = describe(context_);
      disconnect();
      if (attempt == 0) continue;
      throw RedisError("Redis connection lost: " + reason);
    }
    Reply reply(raw);
    if (raw->type == REDIS_REPLY_ERROR) {
      throw RedisError("Redis " + std::string(arguments.front()) + ": " + reply.text());
    }
    return reply;
  }
}

}  // namespace amanuensis::jobs
