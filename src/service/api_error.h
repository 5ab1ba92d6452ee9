// Errors the HTTP API reports to clients, in OpenAI's envelope:
//   {"error": {"message": "...", "type": "...", "param": "..." | null, "code": "..." | null}}
// Request handling throws ApiError; one place (routes' error wrapper) turns it into a response, so
// no handler writes an error body by hand.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace amanuensis::service {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string type, std::string param = {},
           std::string code = {});

  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] const std::string& type() const { return type_; }
  [[nodiscard]] const std::string& param() const { return param_; }
  [[nodiscard]] const std::string& code() const { return code_; }
  // Seconds for a Retry-After header; 0 means none.
  [[nodiscard]] int retry_after() const { return retry_after_; }
  ApiError& with_retry_after(int seconds);

  // The inner object {"message", "type", "param", "code"}, and the whole body {"error": ...}.
  [[nodiscard]] nlohmann::json error_json() const;
  [[nodiscard]] std::string body() const;

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
  int retry_after_ = 0;
};

// 400: the request is malformed or names a bad value; `param` is the form field at fault.
ApiError bad_request(const std::string& message, std::string param = {}, std::string code = {});
// 401: missing or wrong API key.
ApiError unauthorized(const std::string& message);
// 413: the upload is over --max-upload-mb.
ApiError payload_too_large(const std::string& message);
// 429: the queue is full; retry after `seconds`.
ApiError too_many_requests(const std::string& message, int retry_after_seconds);
// 503: the model is not loaded yet, or the server is shutting down.
ApiError unavailable(const std::string& message);
// 504: the transcription ran past --request-timeout.
ApiError timed_out(const std::string& message);
// 500: a bug or an unexpected failure; the message says what, never a stack.
ApiError internal_error(const std::string& message);

}  // namespace amanuensis::service
