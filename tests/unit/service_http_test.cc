// The whole HTTP path (httplib's parsing, our connection handling, routes, error bodies) driven
// through HttpServer::serve_stream with an in-memory stream: no socket, and no model, so every
// transcription request stops at 503 "loading" once its upload has been checked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "service/http_server.h"
#include "service/routes.h"
#include "service/service_context.h"
#include "support/memory_stream.h"

namespace amanuensis::service {
namespace {

using amanuensis::test_support::MemoryStream;

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

class HttpPath : public ::testing::Test {
 protected:
  HttpPath() : context_(config()), server_(4) { add_routes(server_, context_); }

  static ServeConfig config() {
    ServeConfig c;
    c.workers = 1;
    c.max_upload_mb = 1;
    c.access_log = false;
    return c;
  }

  // Sends `request` and returns the first response.
  Reply send(const std::string& request) {
    MemoryStream stream(request);
    server_.serve_stream(stream);
    const auto& out = stream.output();
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
  HttpServer server_;
};

TEST_F(HttpPath, HealthWhileLoading) {
  const auto reply = send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status, 503);
  EXPECT_NE(reply.body.find("\"loading\""), std::string::npos);
}

TEST_F(HttpPath, StatusAndMetricsWithoutAModel) {
  EXPECT_EQ(send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  const auto metrics = send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("amanuensis_model_loaded 0"), std::string::npos);
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
  std::string chunked =
      "POST /transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string piece(64 * 1024, 'a');
  for (int i = 0; i < 20; ++i) chunked += "10000\r\n" + piece + "\r\n";
  EXPECT_EQ(send(chunked + "0\r\n\r\n").status, 413);
}

TEST_F(HttpPath, BadHttp) {
  const auto reply = send("NONSENSE\r\n\r\n");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
}

TEST_F(HttpPath, KeepAliveServesSeveralRequests) {
  MemoryStream stream(
      "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models/whisper-1 HTTP/1.1\r\nHost: "
      "x\r\n\r\n"
      "GET /v1/models/gpt-4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  server_.serve_stream(stream);
  const auto& out = stream.output();
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(out.find("\"whisper-1\""), std::string::npos);
  EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(out.find("model_not_found"), std::string::npos);
}

TEST(HttpAuth, ApiKey) {
  ServeConfig config;
  config.workers = 1;
  config.api_key = "k3y";
  config.access_log = false;
  ServiceContext context(config);
  HttpServer server(2);
  add_routes(server, context);
  const auto status_of = [&](const std::string& request) {
    MemoryStream stream(request);
    server.serve_stream(stream);
    return std::stoi(stream.output().substr(9, 3));
  };
  EXPECT_EQ(status_of("GET /health HTTP/1.1\r\n\r\n"), 503);  // open, but loading
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\n\r\n"), 401);
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"), 401);
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\nAuthorization: Bearer k3y\r\n\r\n"), 200);
}

}  // namespace
}  // namespace amanuensis::service
