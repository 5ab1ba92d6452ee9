// What applies to every route: authentication, request metrics and the access log, and the
// bodies of errors httplib produces itself (404, a request it could not parse, an exception).
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "service/responses.h"
#include "service/routes.h"

namespace amanuensis::service {

namespace {

using Clock = std::chrono::steady_clock;

// Compares in time independent of where the strings differ, so that a wrong key's timing says
// nothing about the right one (its length aside).
bool same_secret(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return difference == 0;
}

// A path for the access log: decoded client text, so control characters must not reach it.
std::string printable(std::string text) {
  constexpr std::size_t kMaxShown = 200;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  for (char& c : text) {
    if (std::isprint(static_cast<unsigned char>(c)) == 0) c = '?';
  }
  return text;
}

// The metrics label for a path: known routes as they are, everything else as "other", so a
// scanner probing random paths cannot grow the metrics without bound.
std::string endpoint_label(const std::string& path) {
  static constexpr std::string_view kRoutes[] = {"/health",
                                                 "/status",
                                                 "/metrics",
                                                 "/v1/models",
                                                 "/v1/audio/transcriptions",
                                                 "/v1/audio/translations",
                                                 "/v1/audio/speech/timestamps",
                                                 "/transcribe"};
  for (const auto route : kRoutes) {
    if (path == route) return path;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
  return "other";
}

// Paths open without the API key: load balancers and orchestrators probe them bare.
bool is_open_path(const std::string& path) { return path == "/health"; }

std::optional<ApiError> check_api_key(const httplib::Request& request, const std::string& key) {
  if (key.empty() || is_open_path(request.path)) return std::nullopt;
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) {
    return unauthorized("missing API key: send it as 'Authorization: Bearer <key>'");
  }
  if (!header.starts_with(kBearer) ||
      !same_secret(std::string_view(header).substr(kBearer.size()), key)) {
    return unauthorized("incorrect API key provided");
  }
  return std::nullopt;
}

// An error answered before the body was read leaves the body on the wire: close afterwards.
void refuse_unread(const httplib::Request& request, httplib::Response& response,
                   const ApiError& error) {
  if (auto* connection = HttpServer::current_connection(); connection && has_body(request)) {
    connection->close_after_response();
  }
  send_error(response, error);
}

}  // namespace

void add_common_handlers(HttpServer& server, ServiceContext& context) {
  // Bodies of non-upload routes are bounded too (uploads check the limit themselves).
  server.set_payload_max_length(context.max_upload_bytes());
  server.set_read_timeout(30, 0);
  server.set_write_timeout(30, 0);
  server.set_keep_alive_max_count(1000);  // httplib's default of 5 makes clients reconnect often

  server.set_pre_routing_handler(
      [&context](const httplib::Request& request, httplib::Response& response) {
        if (const auto error = check_api_key(request, context.config().api_key)) {
          refuse_unread(request, response, *error);
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });

  // "Expect: 100-continue" (curl sends it for large uploads): refuse a bad key or an oversized
  // upload before the client sends the body at all.
  server.set_expect_100_continue_handler(
      [&context](const httplib::Request& request, httplib::Response& response) {
        std::optional<ApiError> error = check_api_key(request, context.config().api_key);
        const auto length = declared_length(request);
        if (!error && length && *length > context.max_upload_bytes()) {
          error = payload_too_large("the upload (" + std::to_string(*length) +
                                    " bytes) is larger than this server's limit of " +
                                    std::to_string(context.max_upload_bytes()) +
                                    " bytes (--max-upload-mb)");
        }
        if (!error) return 100;
        refuse_unread(request, response, *error);
        return error->status();
      });

  // Responses httplib makes without us (unknown route, unparsable request) get our error shape.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty() || response.content_provider_) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        // Anything but a 404 (whose request httplib did read whole) means the request could not be
        // parsed: where the next one would start is unknown, so the connection ends here.
        if (response.status != 404) {
          if (auto* connection = HttpServer::current_connection())
            connection->close_after_response();
        }
        if (response.status == 404) {
          send_error(response, ApiError(404, "no route for " + request.method + " " + request.path,
                                        "invalid_request_error", {}, "not_found"));
        } else if (response.status == 413) {
          send_error(response,
                     payload_too_large("the request body is larger than this server's limit"));
        } else {
          send_error(response, ApiError(response.status, "the request could not be parsed as HTTP",
                                        "invalid_request_error"));
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  server.set_exception_handler([](const httplib::Request&, httplib::Response& response,
                                  const std::exception_ptr& exception) {
    std::string what = "internal error";
    try {
      if (exception) std::rethrow_exception(exception);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    send_error(response, internal_error(what));
  });

  server.set_logger([&context](const httplib::Request& request, const httplib::Response& response) {
    const auto* connection = HttpServer::current_connection();
    const auto started = connection ? connection->request_started() : Clock::now();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const std::string endpoint = endpoint_label(request.path);
    context.metrics().requests.add({endpoint, std::to_string(response.status)});
    context.metrics().latency.observe({endpoint}, seconds);
    if (context.config().access_log) {
      std::fprintf(stderr, "serve: %s %s %s %d %.3fs\n", request.remote_addr.c_str(),
                   printable(request.method).c_str(), printable(request.path).c_str(),
                   response.status, seconds);
    }
  });
}

}  // namespace amanuensis::service
