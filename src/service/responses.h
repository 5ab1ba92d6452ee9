// Writing responses: JSON bodies, OpenAI error bodies, and the wrapper every handler runs in so
// that whatever it throws becomes a proper error response (the process never dies on input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "service/api_error.h"
#include "service/http_types.h"

namespace amanuensis::service {

inline constexpr const char* kJsonType = "application/json";

void send_json(Response& response, int status, const nlohmann::json& body);
void send_error(Response& response, const ApiError& error);

// The request's Content-Length, if it declared one that parses.
std::optional<std::uint64_t> declared_length(const Request& request);
// Whether the request carries a body (so that refusing it unread must close the connection).
bool has_body(const Request& request);

// 413 for an upload of `size` (words: "123 bytes", "more than 123 bytes") over `limit` bytes.
ApiError upload_too_large(std::size_t limit, const std::string& size);

// Runs `handler`; an ApiError becomes its response, any other exception a 500.
template <typename Handler>
void guarded(Response& response, Handler&& handler) noexcept {
  try {
    handler();
  } catch (const ApiError& error) {
    send_error(response, error);
  } catch (const std::exception& error) {
    send_error(response, internal_error(std::string("internal error: ") + error.what()));
  } catch (...) {
    send_error(response, internal_error("internal error"));
  }
}

}  // namespace amanuensis::service
