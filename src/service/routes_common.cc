// What applies to every route: authentication, request metrics and the access log, and the
// bodies of errors the HTTP layer answers itself (404, a request it could not parse, an upload
// over the limit, an exception).
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
  static constexpr std::string_view kRoutes[] = {"/",
                                                 "/health",
                                                 "/status",
                                                 "/metrics",
                                                 "/v1/models",
                                                 "/v1/audio/transcriptions",
                                                 "/v1/audio/translations",
                                                 "/v1/audio/speech/timestamps",
                                                 "/v1/realtime",
                                                 "/transcribe"};
  for (const auto route : kRoutes) {
    if (path == route) return path;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
  return "other";
}

// Paths open without the API key: load balancers and orchestrators probe /health bare, and the
// web page (which holds nothing secret) asks for the key itself.
bool is_open_path(const std::string& path) { return path == "/health" || path == "/"; }

// The key a browser sends as a WebSocket subprotocol (it cannot set Authorization there).
std::optional<std::string> key_from_protocols(const Request& request) {
  for (const auto& offered :
       offered_protocols(request.get_header_value("Sec-WebSocket-Protocol"))) {
    if (offered.starts_with(kApiKeyProtocolPrefix)) {
      return offered.substr(kApiKeyProtocolPrefix.size());
    }
  }
  return std::nullopt;
}

std::optional<ApiError> check_api_key(const Request& request, const std::string& key) {
  if (key.empty() || is_open_path(request.path)) return std::nullopt;
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  std::string given;
  if (!header.empty()) {
    if (!header.starts_with(kBearer)) return unauthorized("incorrect API key provided");
    given = header.substr(kBearer.size());
  } else if (auto from_protocol = key_from_protocols(request)) {
    given = std::move(*from_protocol);
  } else {
    return unauthorized("missing API key: send it as 'Authorization: Bearer <key>'");
  }
  if (!same_secret(given, key)) return unauthorized("incorrect API key provided");
  return std::nullopt;
}

// An error answered before the body was read leaves the body on the wire: close afterwards.
void refuse_unread(const Request& request, Response& response, const ApiError& error) {
  if (auto* connection = HttpServer::current_connection(); connection && has_body(request)) {
    connection->close_after_response();
  }
  send_error(response, error);
}

// The error body for what the HTTP layer refused on its own.
ApiError failure_error(const Request& request, const HttpFailure& failure) {
  using Kind = HttpFailure::Kind;
  switch (failure.kind) {
    case Kind::kNotFound:
      return {404,
              "no route for " + request.method + " " + request.path,
              "invalid_request_error",
              {},
              "not_found"};
    case Kind::kBodyTooLarge:
      return upload_too_large(failure.limit,
                              failure.declared
                                  ? std::to_string(*failure.declared) + " bytes"
                                  : "more than " + std::to_string(failure.limit) + " bytes");
    case Kind::kBodyIncomplete:
      return bad_request(
          "the request body ended early or was malformed (" + std::to_string(failure.received) +
          " bytes received" +
          (failure.declared ? " of " + std::to_string(*failure.declared) + " declared)" : ")"));
    case Kind::kUpgradeRequired:
      return {426, request.path + " is a WebSocket endpoint: connect with Upgrade: websocket",
              "invalid_request_error"};
    case Kind::kNeedsSocket:
      return {501, "WebSocket needs a network connection", "server_error"};
    case Kind::kUnparsable:
      break;
  }
  return {400, "the request could not be parsed as HTTP", "invalid_request_error"};
}

}  // namespace

void add_common_handlers(HttpServer& server, ServiceContext& context) {
  // Bodies of every route are bounded by the upload limit (the layer answers 413).
  server.set_payload_max_length(context.max_upload_bytes());
  server.set_read_timeout(std::chrono::seconds(30));
  server.set_write_timeout(std::chrono::seconds(30));
  server.set_keep_alive_max_count(1000);

  server.set_pre_routing_handler([&context](const Request& request, Response& response) {
    if (const auto error = check_api_key(request, context.config().api_key)) {
      refuse_unread(request, response, *error);
      return HttpServer::HandlerResponse::kHandled;
    }
    return HttpServer::HandlerResponse::kUnhandled;
  });

  // "Expect: 100-continue" (curl sends it for large uploads): refuse an oversized upload before
  // the client sends the body at all (the key was checked before).
  server.set_expect_100_continue_handler([&context](const Request& request, Response& response) {
    const auto length = declared_length(request);
    if (!length || *length <= context.max_upload_bytes()) return 100;
    const auto error =
        upload_too_large(context.max_upload_bytes(), std::to_string(*length) + " bytes");
    refuse_unread(request, response, error);
    return error.status();
  });

  server.set_error_handler(
      [](const Request& request, Response& response, const HttpFailure& failure) {
        send_error(response, failure_error(request, failure));
      });

  // A handler that throws (they are all guarded, so this is a bug) or a WebSocket factory's
  // refusal.
  server.set_exception_handler(
      [](const Request&, Response& response, const std::exception_ptr& exception) {
        try {
          if (exception) std::rethrow_exception(exception);
          send_error(response, internal_error("internal error"));
        } catch (const ApiError& error) {
          send_error(response, error);
        } catch (const std::exception& e) {
          send_error(response, internal_error(std::string("internal error: ") + e.what()));
        } catch (...) {
          send_error(response, internal_error("internal error"));
        }
      });

  server.set_logger([&context](const Request& request, const Response& response) {
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
