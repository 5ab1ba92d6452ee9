#include "service/responses.h"

#include <charconv>

#include "service/http_server.h"

namespace amanuensis::service {

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  // Transcripts are repaired UTF-8, but echoed client text may not be: replace, never throw.
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       kJsonType);
}

void send_error(httplib::Response& response, const ApiError& error) {
  response.status = error.status();
  response.set_content(error.body(), kJsonType);
  if (error.retry_after() > 0) {
    response.set_header("Retry-After", std::to_string(error.retry_after()));
  }
  if (auto* connection = HttpServer::current_connection(); connection && connection->closing()) {
    response.set_header("Connection", "close");
  }
}

std::optional<std::uint64_t> declared_length(const httplib::Request& request) {
  if (!request.has_header("Content-Length")) return std::nullopt;
  const std::string text = request.get_header_value("Content-Length");
  std::uint64_t length = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return length;
}

bool has_body(const httplib::Request& request) {
  if (request.has_header("Transfer-Encoding")) return true;
  if (!request.has_header("Content-Length")) return false;
  const auto length = declared_length(request);
  return !length || *length > 0;  // an unparsable length: assume there is a body
}

}  // namespace amanuensis::service
