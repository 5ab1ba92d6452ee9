// HttpServer's request path, shared by real connections and serve_bytes(): what to do once a
// header is in (check_header), then routing, the handler, and writing its response (dispatch).
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "service/http_server.h"

namespace amanuensis::service {

namespace {

thread_local Connection* t_connection = nullptr;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

int status_of(HttpFailure::Kind kind) {
  switch (kind) {
    case HttpFailure::Kind::kNotFound:
      return 404;
    case HttpFailure::Kind::kBodyTooLarge:
      return 413;
    case HttpFailure::Kind::kUpgradeRequired:
      return 426;
    case HttpFailure::Kind::kNeedsSocket:
      return 501;
    case HttpFailure::Kind::kUnparsable:
    case HttpFailure::Kind::kBodyIncomplete:
      break;
  }
  return 400;
}

bool is_websocket_upgrade(const Request& request) {
  const auto upgrade = request.get_header_value("Upgrade");
  return request.method == "GET" && iequals(upgrade, "websocket");
}

// A streamed body's chunks, framed for Transfer-Encoding: chunked.
class ChunkSink final : public DataSink {
 public:
  explicit ChunkSink(HttpServer::ByteSink& out) : out_(out) {}

  bool write(const char* data, std::size_t size) override {
    if (failed_ || finished_) return false;
    if (size == 0) return true;  // an empty chunk would end the body
    char length[20];
    const int n = std::snprintf(length, sizeof length, "%zx\r\n", size);
    std::string chunk(length, static_cast<std::size_t>(n));
    chunk.append(data, size);
    chunk += "\r\n";
    failed_ = !out_.write(chunk);
    return !failed_;
  }
  [[nodiscard]] bool is_writable() const override { return !failed_ && !out_.peer_gone(); }
  void done() override {
    if (finished_ || failed_) return;
    finished_ = true;
    failed_ = !out_.write("0\r\n\r\n");
  }
  [[nodiscard]] bool finished() const { return finished_; }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  HttpServer::ByteSink& out_;
  bool finished_ = false;
  bool failed_ = false;
};

}  // namespace

bool Connection::peer_gone() const {
  if (socket_ < 0) return false;  // an in-memory stream has no peer to lose
  // POLLRDHUP: the client shut down or closed its end. Plain POLLIN would only mean it sent
  // more (a pipelined request), which is no reason to stop.
  pollfd p{socket_, POLLRDHUP, 0};
  int result = 0;
  do {
    result = ::poll(&p, 1, 0);
  } while (result < 0 && errno == EINTR);
  return result > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

CurrentConnection::CurrentConnection(Connection& connection) : previous_(t_connection) {
  t_connection = &connection;
}
CurrentConnection::~CurrentConnection() { t_connection = previous_; }

Connection* HttpServer::current_connection() { return t_connection; }

void HttpServer::add_route(std::string method, const std::string& pattern, Handler handler) {
  routes_.push_back({std::move(method), std::regex(pattern), std::move(handler)});
}
void HttpServer::on_get(const std::string& pattern, Handler handler) {
  add_route("GET", pattern, std::move(handler));
}
void HttpServer::on_post(const std::string& pattern, Handler handler) {
  add_route("POST", pattern, std::move(handler));
}
void HttpServer::on_delete(const std::string& pattern, Handler handler) {
  add_route("DELETE", pattern, std::move(handler));
}
void HttpServer::websocket(std::string path, WebSocketFactory factory) {
  websockets_routes_.emplace_back(std::move(path), std::move(factory));
}

HttpServer::Limits HttpServer::limits() const {
  // 16 KiB of header: room for long cookies and tokens; a 20 kB header is refused (400).
  return {body_limit_,    16 * 1024,           read_timeout_,
          write_timeout_, keep_alive_timeout_, keep_alive_max_};
}

HttpServer::HeaderVerdict HttpServer::check_header(
    const Request& request, Connection& connection,
    const std::function<std::shared_ptr<WebSocketPeer>()>& peer_factory) {
  const CurrentConnection current(connection);
  HeaderVerdict verdict;
  const auto respond = [&](Response response) {
    verdict.action = HeaderVerdict::Action::kRespond;
    verdict.response = std::move(response);
    verdict.close = connection.closing();
    return verdict;
  };
  if (pre_routing_ && pre_routing_(request, verdict.response) == HandlerResponse::kHandled) {
    return respond(std::move(verdict.response));
  }
  const auto ws = std::find_if(websockets_routes_.begin(), websockets_routes_.end(),
                               [&](const auto& route) { return route.first == request.path; });
  if (ws != websockets_routes_.end()) {
    if (!is_websocket_upgrade(request)) {
      return respond(
          failure_response(request, connection, HttpFailure(HttpFailure::Kind::kUpgradeRequired)));
    }
    auto peer = peer_factory ? peer_factory() : nullptr;
    if (!peer) {
      return respond(
          failure_response(request, connection, HttpFailure(HttpFailure::Kind::kNeedsSocket)));
    }
    try {
      verdict.app = ws->second(request, peer);
    } catch (...) {
      Response response;
      if (exception_handler_) exception_handler_(request, response, std::current_exception());
      if (response.status < 0) response.status = 500;
      return respond(std::move(response));
    }
    if (!verdict.app) {
      return respond(
          failure_response(request, connection, HttpFailure(HttpFailure::Kind::kNotFound)));
    }
    verdict.peer = std::move(peer);
    for (const auto& offered :
         offered_protocols(request.get_header_value("Sec-WebSocket-Protocol"))) {
      // Chromium fails a connection whose offered subprotocols the server ignores.
      if (offered == kRealtimeProtocol) verdict.protocol = offered;
    }
    verdict.action = HeaderVerdict::Action::kUpgrade;
    return verdict;
  }
  if (iequals(request.get_header_value("Expect"), "100-continue")) {
    const int status = expect_continue_ ? expect_continue_(request, verdict.response) : 100;
    if (status != 100) {
      verdict.response.status = status;
      connection.close_after_response();
      return respond(std::move(verdict.response));
    }
    verdict.action = HeaderVerdict::Action::kContinue;
  }
  if (const auto length = request.content_length(); length && *length > body_limit_) {
    return respond(failure_response(
        request, connection, HttpFailure(HttpFailure::Kind::kBodyTooLarge, body_limit_, length)));
  }
  return verdict;
}

const HttpServer::Route* HttpServer::find_route(Request& request) const {
  const std::string& method = request.method == "HEAD" ? std::string("GET") : request.method;
  for (const auto& route : routes_) {
    std::smatch match;
    if (route.method != method || !std::regex_match(request.path, match, route.pattern)) continue;
    request.matches.assign(match.begin(), match.end());
    return &route;
  }
  return nullptr;
}

void HttpServer::run_handler(const Route* route, Request& request, Response& response) {
  try {
    route->handler(request, response);
  } catch (...) {
    response = Response();
    if (exception_handler_) exception_handler_(request, response, std::current_exception());
    if (response.status < 0) response.status = 500;
  }
}

bool HttpServer::dispatch(Request& request, Connection& connection, ByteSink& out) {
  const CurrentConnection current(connection);
  Response response;
  const Route* route = find_route(request);
  if (route == nullptr) {
    response = failure_response(request, connection, HttpFailure(HttpFailure::Kind::kNotFound));
  } else {
    run_handler(route, request, response);
  }
  if (response.status < 0) response.status = 200;
  const bool close = connection.last_request() || connection.closing() || stopping_;
  const bool written = write_response(request, response, close, out);
  log(request, response, connection);
  return written && !close;
}

bool HttpServer::write_response(const Request& request, Response& response, bool close,
                                ByteSink& out) {
  const bool head_only = request.method == "HEAD";
  if (!response.content_provider) {
    return out.write(serialize_head(response, close, false, response.body.size())) &&
           (head_only || response.body.empty() || out.write(response.body));
  }
  bool success = !head_only && out.write(serialize_head(response, close, true, 0));
  if (head_only) success = out.write(serialize_head(response, close, false, 0));
  ChunkSink sink(out);
  while (success && !head_only && !sink.finished()) {
    success = response.content_provider(sink) && !sink.failed();
  }
  if (response.content_provider_done) response.content_provider_done(success && sink.finished());
  // A stream cut short leaves the client mid-body: the connection cannot carry on.
  return success && (head_only || sink.finished());
}

Response HttpServer::failure_response(const Request& request, Connection& connection,
                                      const HttpFailure& failure) {
  const CurrentConnection current(connection);
  Response response;
  response.status = status_of(failure.kind);
  if (failure.kind != HttpFailure::Kind::kNotFound &&
      failure.kind != HttpFailure::Kind::kUpgradeRequired) {
    // Where the next request would start is unknown, or the body is left unread.
    connection.close_after_response();
  }
  if (error_handler_) error_handler_(request, response, failure);
  return response;
}

void HttpServer::log(const Request& request, const Response& response,
                     Connection& connection) const {
  const CurrentConnection current(connection);
  if (logger_) logger_(request, response);
}

std::vector<std::string> offered_protocols(std::string_view header) {
  std::vector<std::string> protocols;
  while (!header.empty()) {
    const auto comma = header.find(',');
    auto item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) protocols.emplace_back(item);
  }
  return protocols;
}

}  // namespace amanuensis::service
