// HttpServer's WebSocket mechanism, on a real loopback socket with a test-only echo endpoint:
// the handshake (subprotocol selection, the API key as a header or a subprotocol), messages both
// ways (queued before the handshake too), refusal through ApiError, the message size limit
// (close 1009), the application's close, the session count, and shutdown (close 1001).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "service/api_error.h"
#include "service/http_server.h"
#include "service/routes.h"
#include "service/service_context.h"

namespace amanuensis::service {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

std::atomic<int> g_closed{0};

class Echo final : public WebSocketApp {
 public:
  explicit Echo(std::shared_ptr<WebSocketPeer> peer) : peer_(std::move(peer)) {}
  void on_text(std::string_view message) override {
    if (message == "bye") {
      peer_->close(1000, "bye");
    } else {
      peer_->send_text("echo:" + std::string(message));
    }
  }
  void on_binary(std::string_view message) override {
    peer_->send_text("binary:" + std::to_string(message.size()));
  }
  void on_closed() override {
    ++g_closed;
    peer_.reset();
  }

 private:
  std::shared_ptr<WebSocketPeer> peer_;
};

class WebSocketEndpoint : public ::testing::Test {
 protected:
  WebSocketEndpoint() : context_(config()), live_(context_), server_(2) {
    add_routes(server_, context_, live_);
    server_.websocket("/echo", [](const Request& request, std::shared_ptr<WebSocketPeer> peer) {
      if (request.get_param_value("refuse") == "1") throw too_many_requests("no room", 3);
      peer->send_text("hello");  // queued before the handshake is answered
      return std::make_shared<Echo>(std::move(peer));
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    listener_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebSocketEndpoint() override {
    server_.stop_accepting();
    listener_.join();
  }

  static ServeConfig config() {
    ServeConfig c;
    c.workers = 1;
    c.api_key = "k3y";
    c.access_log = false;
    return c;
  }

  // Opens a session offering `protocols`; the handshake's response in `response`.
  std::unique_ptr<websocket::stream<tcp::socket>> open(const std::string& target,
                                                       const std::string& protocols,
                                                       const std::string& authorization,
                                                       websocket::response_type& response,
                                                       beast::error_code& error) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(io_);
    ws->next_layer().connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
    ws->set_option(websocket::stream_base::decorator([=](websocket::request_type& request) {
      if (!protocols.empty()) request.set(beast::http::field::sec_websocket_protocol, protocols);
      if (!authorization.empty()) request.set(beast::http::field::authorization, authorization);
    }));
    ws->handshake(response, "127.0.0.1", target, error);
    return ws;
  }

  static std::string read_text(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  void wait_for_sessions(std::size_t count) {
    for (int i = 0; i < 200 && server_.websocket_count() != count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(server_.websocket_count(), count);
  }

  ServiceContext context_;
  LiveSessions live_;
  HttpServer server_;
  int port_ = 0;
  std::thread listener_;
  net::io_context io_;
};

TEST_F(WebSocketEndpoint, EchoWithTheKeyAsASubprotocol) {
  websocket::response_type response;
  beast::error_code error;
  auto ws = open("/echo", "realtime, openai-insecure-api-key.k3y", "", response, error);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(response[beast::http::field::sec_websocket_protocol], "realtime");
  EXPECT_EQ(read_text(*ws), "hello");
  ws->write(net::buffer(std::string("hi")));
  EXPECT_EQ(read_text(*ws), "echo:hi");
  ws->binary(true);
  ws->write(net::buffer(std::string(1000, 'x')));
  EXPECT_EQ(read_text(*ws), "binary:1000");
  ws->text(true);
  wait_for_sessions(1);
  const int closed_before = g_closed;
  ws->close(websocket::close_code::normal);
  wait_for_sessions(0);
  EXPECT_EQ(g_closed, closed_before + 1);
}

TEST_F(WebSocketEndpoint, KeyInTheAuthorizationHeader) {
  websocket::response_type response;
  beast::error_code error;
  auto ws = open("/echo", "", "Bearer k3y", response, error);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(response.count(beast::http::field::sec_websocket_protocol), 0U);
  EXPECT_EQ(read_text(*ws), "hello");
  // The application closes: its messages queued before go out first.
  ws->write(net::buffer(std::string("one")));
  ws->write(net::buffer(std::string("bye")));
  EXPECT_EQ(read_text(*ws), "echo:one");
  beast::flat_buffer buffer;
  ws->read(buffer, error);
  EXPECT_EQ(error, websocket::error::closed);
  EXPECT_EQ(ws->reason().code, 1000);
}

TEST_F(WebSocketEndpoint, Refusals) {
  websocket::response_type response;
  beast::error_code error;
  open("/echo", "realtime", "", response, error);
  EXPECT_TRUE(error);
  EXPECT_EQ(response.result_int(), 401);
  open("/echo", "realtime, openai-insecure-api-key.wrong", "", response, error);
  EXPECT_EQ(response.result_int(), 401);
  open("/echo?refuse=1", "realtime", "Bearer k3y", response, error);
  EXPECT_TRUE(error);
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_NE(response.body().find("no room"), std::string::npos);
  EXPECT_EQ(response[beast::http::field::retry_after], "3");
  // A plain GET on the WebSocket path.
  const auto out = server_.serve_bytes("GET /echo HTTP/1.1\r\nAuthorization: Bearer k3y\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 426", 0), 0U) << out;
  EXPECT_NE(out.find("invalid_request_error"), std::string::npos);
}

TEST_F(WebSocketEndpoint, RealtimeRefusesOtherIntentsAndWaitsForTheModel) {
  websocket::response_type response;
  beast::error_code error;
  open("/v1/realtime", "realtime", "Bearer k3y", response, error);
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_NE(response.body().find("intent=transcription"), std::string::npos) << response.body();
  // No model is loaded in this fixture: the session cannot start yet.
  open("/v1/realtime?intent=transcription", "realtime", "Bearer k3y", response, error);
  EXPECT_EQ(response.result_int(), 503) << response.body();
  EXPECT_EQ(live_.count(), 0);
}

TEST_F(WebSocketEndpoint, MessageOverTheLimitCloses1009) {
  websocket::response_type response;
  beast::error_code error;
  auto ws = open("/echo", "", "Bearer k3y", response, error);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(read_text(*ws), "hello");
  // Fragments of 1 MiB up to the limit, which the server reads as they come, then one byte more
  // (small, so that it is all sent before the server gives up and closes).
  const std::string piece(1 << 20, 'a');
  for (std::size_t sent = 0; sent < kWebSocketMessageLimit && !error; sent += piece.size()) {
    ws->write_some(false, net::buffer(piece), error);
  }
  ASSERT_FALSE(error) << error.message();
  ws->write_some(true, net::buffer(std::string("a")), error);
  ASSERT_FALSE(error) << error.message();
  beast::flat_buffer buffer;
  ws->read(buffer, error);
  EXPECT_EQ(error, websocket::error::closed) << error.message();
  EXPECT_EQ(ws->reason().code, 1009);
  wait_for_sessions(0);
}

TEST_F(WebSocketEndpoint, ShutdownSaysGoingAway) {
  websocket::response_type response;
  beast::error_code error;
  auto ws = open("/echo", "realtime", "Bearer k3y", response, error);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(read_text(*ws), "hello");
  server_.stop_accepting();
  beast::flat_buffer buffer;
  ws->read(buffer, error);
  EXPECT_EQ(error, websocket::error::closed) << error.message();
  EXPECT_EQ(ws->reason().code, 1001);
  wait_for_sessions(0);
}

}  // namespace
}  // namespace amanuensis::service
