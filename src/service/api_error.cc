#include "service/api_error.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace amanuensis::service {

ApiError::ApiError(int status, const std::string& message, std::string type, std::string param,
                   std::string code)
    : std::runtime_error(message),
      status_(status),
      type_(std::move(type)),
      param_(std::move(param)),
      code_(std::move(code)) {}

ApiError& ApiError::with_retry_after(int seconds) {
  retry_after_ = seconds;
  return *this;
}

nlohmann::json ApiError::error_json() const {
  // OpenAI sends null, not "", for an absent param or code; clients test for null.
  const auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json() : nlohmann::json(s);
  };
  return {
      {"message", what()}, {"type", type_}, {"param", or_null(param_)}, {"code", or_null(code_)}};
}

std::string ApiError::body() const {
  // Messages can quote client input (a field value, a file name): never let bad UTF-8 throw.
  return nlohmann::json{{"error", error_json()}}.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace);
}

ApiError bad_request(const std::string& message, std::string param, std::string code) {
  return {400, message, "invalid_request_error", std::move(param), std::move(code)};
}

ApiError unauthorized(const std::string& message) {
  return {401, message, "invalid_request_error", {}, "invalid_api_key"};
}

ApiError payload_too_large(const std::string& message) {
  return {413, message, "invalid_request_error", "file", "file_too_large"};
}

ApiError too_many_requests(const std::string& message, int retry_after_seconds) {
  ApiError error(429, message, "rate_limit_error", {}, "queue_full");
  error.with_retry_after(retry_after_seconds);
  return error;
}

ApiError unavailable(const std::string& message) {
  return {503, message, "server_error", {}, "unavailable"};
}

ApiError timed_out(const std::string& message) {
  return {504, message, "server_error", {}, "timeout"};
}

ApiError internal_error(const std::string& message) {
  return {500, message, "server_error", {}, "internal_error"};
}

}  // namespace amanuensis::service
