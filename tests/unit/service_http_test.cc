// The whole HTTP path (Beast's parsing, our request path, routes, error bodies) driven through
// HttpServer::serve_bytes: no socket, and no model, so every transcription request stops at 503
// "loading" once its upload has been checked. The WebSocket tests run a real server on a loopback
// port with an echo application, and talk to it with Beast's client.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "service/api_error.h"
#include "service/http_server.h"
#include "service/routes.h"
#include "service/service_context.h"

namespace amanuensis::service {
namespace {

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

class HttpPath : public ::testing::Test {
 protected:
  HttpPath() : context_(config()), live_(context_), server_(4) {
    add_routes(server_, context_, live_);
  }

  static ServeConfig config() {
    ServeConfig c;
    c.workers = 1;
    c.max_upload_mb = 1;
    c.access_log = false;
    return c;
  }

  // Sends `request` and returns the first response.
  Reply send(const std::string& request) {
    const auto out = server_.serve_bytes(request);
    Reply reply;
    const auto head_end = out.find("\r\n\r\n");
    if (head_end == std::string::npos) return reply;
    reply.head = out.substr(0, head_end);
    reply.status = std::stoi(out.substr(9, 3));
    reply.body = out.substr(head_end + 4);
    return reply;
  }

  static std::string post(const std::string& path, const std::string& content_type,
                          const std::string& body, const std::string& extra_headers = {}) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" +
           body;
  }

  static std::string error_message(const Reply& reply) {
    return nlohmann::json::parse(
        reply.body.substr(0, reply.body.find("}}") + 2))["error"]["message"];
  }

  ServiceContext context_;
  LiveSessions live_;
  HttpServer server_;
};

TEST_F(HttpPath, WebPageIsServedAndOpen) {
  const auto reply = send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.head.find("text/html"), std::string::npos) << reply.head;
  EXPECT_NE(reply.body.find("/v1/realtime?intent=transcription"), std::string::npos);
  EXPECT_NE(reply.body.find("</html>"), std::string::npos);
}

TEST_F(HttpPath, RealtimeNeedsAWebSocketUpgrade) {
  const auto reply = send("GET /v1/realtime?intent=transcription HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status, 426) << reply.body;
}

TEST_F(HttpPath, HealthWhileLoading) {
  const auto reply = send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status, 503);
  EXPECT_NE(reply.body.find("\"loading\""), std::string::npos);
}

TEST_F(HttpPath, StatusAndMetricsWithoutAModel) {
  EXPECT_EQ(send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  const auto metrics = send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(metrics.status, 200);
  // A series per model; this server has none.
  EXPECT_NE(metrics.body.find("# TYPE amanuensis_model_loaded gauge"), std::string::npos);
  EXPECT_NE(metrics.head.find("text/plain; version=0.0.4"), std::string::npos);
}

TEST_F(HttpPath, UploadIsCheckedBeforeTheModelIsNeeded) {
  const std::string form =
      "--b\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.wav\"\r\n\r\nRIFF\r\n--b--\r\n";
  EXPECT_EQ(send(post("/v1/audio/transcriptions", "multipart/form-data; boundary=b", form)).status,
            503);
  const auto truncated = send(post("/v1/audio/transcriptions", "multipart/form-data; boundary=b",
                                   form.substr(0, form.size() - 8)));
  EXPECT_EQ(truncated.status, 400);
  EXPECT_NE(error_message(truncated).find("truncated"), std::string::npos);
  const auto json = send(post("/v1/audio/transcriptions", "application/json", "{}"));
  EXPECT_EQ(json.status, 400);
  EXPECT_NE(error_message(json).find("multipart/form-data"), std::string::npos);
}

TEST_F(HttpPath, UploadLimit) {
  const auto reply = send(
      "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 2147483648\r\n\r\n--b");
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.head.find("Connection: close"), std::string::npos);
  EXPECT_NE(error_message(reply).find("2147483648 bytes"), std::string::npos);
  std::string chunked =
      "POST /transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string piece(64 * 1024, 'a');
  for (int i = 0; i < 20; ++i) chunked += "10000\r\n" + piece + "\r\n";
  const auto over = send(chunked + "0\r\n\r\n");
  EXPECT_EQ(over.status, 413);
  EXPECT_NE(error_message(over).find("more than"), std::string::npos);
}

TEST_F(HttpPath, BodyEndedEarly) {
  const auto reply = send(
      "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100\r\n\r\n--b");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(error_message(reply).find("ended early"), std::string::npos);
  EXPECT_NE(error_message(reply).find("3 bytes received of 100"), std::string::npos);
}

TEST_F(HttpPath, NoBody) {
  const auto reply = send(
      "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: multipart/form-data; boundary=b\r\n\r\n");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(error_message(reply).find("no body"), std::string::npos);
}

TEST_F(HttpPath, ExpectContinue) {
  const auto refused = send(
      "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 99999999\r\n\r\n");
  EXPECT_EQ(refused.status, 413);
  const auto out = server_.serve_bytes(
      post("/v1/audio/transcriptions", "application/json", "{}", "Expect: 100-continue\r\n"));
  EXPECT_EQ(out.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400", 0), 0U) << out;
}

TEST_F(HttpPath, BadHttp) {
  const auto reply = send("NONSENSE\r\n\r\n");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  const auto big = send("GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big.status, 400);
  EXPECT_NE(error_message(big).find("could not be parsed"), std::string::npos);
}

TEST_F(HttpPath, KeepAliveServesSeveralRequests) {
  const auto out = server_.serve_bytes(
      "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models/whisper-1 HTTP/1.1\r\nHost: "
      "x\r\n\r\n"
      "GET /v1/models/gpt-4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(out.find("\"whisper-1\""), std::string::npos);
  EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(out.find("model_not_found"), std::string::npos);
  // The fourth request came after Connection: close: not served.
  EXPECT_EQ(out.find("HTTP/1.1", out.find("model_not_found")), std::string::npos);
}

TEST_F(HttpPath, QueryAndHead) {
  const auto head = server_.serve_bytes("HEAD /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0U);
  EXPECT_EQ(head.find("\"data\""), std::string::npos);
  EXPECT_EQ(send("GET /v1/models/whisper%2D1?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
}

TEST(HttpAuth, ApiKey) {
  ServeConfig config;
  config.workers = 1;
  config.api_key = "k3y";
  config.access_log = false;
  ServiceContext context(config);
  LiveSessions live(context);
  HttpServer server(2);
  add_routes(server, context, live);
  const auto status_of = [&](const std::string& request) {
    return std::stoi(server.serve_bytes(request).substr(9, 3));
  };
  EXPECT_EQ(status_of("GET /health HTTP/1.1\r\n\r\n"), 503);  // open, but loading
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\n\r\n"), 401);
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"), 401);
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\nAuthorization: Bearer k3y\r\n\r\n"), 200);
  const auto body_refused =
      server.serve_bytes("POST /transcribe HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde");
  EXPECT_EQ(body_refused.rfind("HTTP/1.1 401", 0), 0U);
  EXPECT_NE(body_refused.find("Connection: close"), std::string::npos);
}

}  // namespace
}  // namespace amanuensis::service
