// WebSocket endpoints: what an application registered with HttpServer::websocket() sees.
//
// A WebSocket session costs no thread: its frames are read and written by the server's I/O
// threads. The application therefore must not block in its callbacks; heavy work (a
// transcription) goes to the worker pool, and its results come back through send_text(), which
// any thread may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "service/http_types.h"

namespace amanuensis::service {

// The connection, as the application may use it. Thread-safe; never blocks.
class WebSocketPeer {
 public:
  WebSocketPeer() = default;
  WebSocketPeer(const WebSocketPeer&) = delete;
  WebSocketPeer& operator=(const WebSocketPeer&) = delete;
  virtual ~WebSocketPeer() = default;
  // Queues a text message; messages are written in order. Dropped once the session is closing.
  virtual void send_text(std::string message) = 0;
  // Closes the session with `code` (RFC 6455 7.4) once the messages queued before are written.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // Bytes queued and not yet written: lets a producer notice a client that does not read.
  [[nodiscard]] virtual std::size_t queued_bytes() const = 0;
};

// One session's application.
class WebSocketApp {
 public:
  WebSocketApp() = default;
  WebSocketApp(const WebSocketApp&) = delete;
  WebSocketApp& operator=(const WebSocketApp&) = delete;
  virtual ~WebSocketApp() = default;
  // A whole text message. Called on an I/O thread, one call at a time per session; must not block.
  virtual void on_text(std::string_view message) = 0;
  // A whole binary message; ignored unless overridden.
  virtual void on_binary(std::string_view /*message*/) {}
  // The session has ended (either side closed it, or the connection failed). Called once; no
  // other call follows it.
  virtual void on_closed() = 0;
};

// Runs at upgrade time (on an I/O thread, after the API-key check), before the handshake is
// answered. Returns the session's application, or throws ApiError to refuse the upgrade with that
// HTTP status and error body (429 too many sessions, 400 a bad query, ...).
using WebSocketFactory =
    std::function<std::shared_ptr<WebSocketApp>(const Request&, std::shared_ptr<WebSocketPeer>)>;

// The subprotocol browsers use to send the API key (they cannot set Authorization on a
// WebSocket): "openai-insecure-api-key.<key>", offered beside "realtime".
inline constexpr std::string_view kApiKeyProtocolPrefix = "openai-insecure-api-key.";
// The subprotocol the server selects when the client offers it.
inline constexpr std::string_view kRealtimeProtocol = "realtime";
// Messages larger than this end the session with close code 1009 (message too big).
inline constexpr std::size_t kWebSocketMessageLimit = 16 * 1024 * 1024;

// The comma-separated items of a Sec-WebSocket-Protocol header, trimmed.
std::vector<std::string> offered_protocols(std::string_view header);

}  // namespace amanuensis::service
