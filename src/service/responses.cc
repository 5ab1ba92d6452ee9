#include "service/responses.h"

#include <cstdio>

namespace amanuensis::service {

namespace {

std::string megabytes(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

void send_json(Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  // Transcripts are repaired UTF-8, but echoed client text may not be: replace, never throw.
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       kJsonType);
}

void send_error(Response& response, const ApiError& error) {
  response.status = error.status();
  response.set_content(error.body(), kJsonType);
  if (error.retry_after() > 0) {
    response.set_header("Retry-After", std::to_string(error.retry_after()));
  }
  // (Connection: close is the HTTP layer's to add, when the connection's closing() says so.)
}

std::optional<std::uint64_t> declared_length(const Request& request) {
  return request.content_length();
}

bool has_body(const Request& request) {
  if (request.has_header("Transfer-Encoding")) return true;
  if (!request.has_header("Content-Length")) return false;
  const auto length = declared_length(request);
  return !length || *length > 0;  // an unparsable length: assume there is a body
}

ApiError upload_too_large(std::size_t limit, const std::string& size) {
  return payload_too_large("the upload (" + size + ") is larger than this server's limit of " +
                           megabytes(limit) + " (" + std::to_string(limit) +
                           " bytes; --max-upload-mb)");
}

}  // namespace amanuensis::service
