// HttpServer::serve_bytes: one connection's bytes, parsed by the same Beast parser (synchronous
// reads over memory) and answered by the same check_header and dispatch as a real connection.
// What the unit tests and the HTTP fuzz target drive.
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "service/http_session.h"

namespace amanuensis::service {

namespace {

// A SyncReadStream over the input: what a client sent, then end of stream.
class InputStream {
 public:
  explicit InputStream(std::string_view input) : input_(input) {}

  template <typename Buffers>
  std::size_t read_some(const Buffers& buffers, beast::error_code& error) {
    error = {};
    if (input_.empty()) {
      error = net::error::eof;
      return 0;
    }
    const auto n = net::buffer_copy(buffers, net::buffer(input_.data(), input_.size()));
    input_.remove_prefix(n);
    return n;
  }
  template <typename Buffers>
  std::size_t read_some(const Buffers& buffers) {
    beast::error_code error;
    const auto n = read_some(buffers, error);
    if (error) throw beast::system_error(error);
    return n;
  }

 private:
  std::string_view input_;
};

class StringSink final : public HttpServer::ByteSink {
 public:
  bool write(std::string_view bytes) override {
    output_ += bytes;
    return true;
  }
  [[nodiscard]] bool peer_gone() const override { return false; }
  std::string& output() { return output_; }

 private:
  std::string output_;
};

}  // namespace

std::string HttpServer::serve_bytes(std::string_view input) {
  InputStream in(input);
  beast::flat_buffer buffer;
  StringSink out;
  Connection connection(-1);
  const auto limits = this->limits();
  for (std::size_t served = 0; served < limits.keep_alive_max;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header));
    parser.body_limit(boost::none);
    beast::error_code error;
    http::read_header(in, buffer, parser, error);
    if (error == http::error::end_of_stream || error == http::error::partial_message) break;
    Request request;
    request.remote_addr = "127.0.0.1";
    const auto answer = [&](Response response, bool close) {
      const bool written = write_response(request, response, close, out);
      log(request, response, connection);
      return written && !close;
    };
    if (error) {
      connection.begin_request({}, true);
      answer(failure_response(request, connection, HttpFailure(HttpFailure::Kind::kUnparsable)),
             true);
      break;
    }
    request = request_from_header(parser.get().base(), "127.0.0.1", 40000);
    request.keep_alive = parser.get().keep_alive();
    ++served;
    connection.begin_request(request.get_header_value("Content-Type"),
                             !request.keep_alive || served >= limits.keep_alive_max || stopping_);
    auto verdict = check_header(request, connection, {});
    using Action = HeaderVerdict::Action;
    if (verdict.action == Action::kRespond) {
      const bool close = verdict.close || !parser.is_done() || connection.last_request();
      if (!answer(std::move(verdict.response), close)) break;
      continue;
    }
    if (verdict.action == Action::kContinue) out.write("HTTP/1.1 100 Continue\r\n\r\n");
    if (!parser.is_done()) {
      parser.body_limit(limits.body);
      http::read(in, buffer, parser, error);
      if (error) {
        const bool too_large = error == http::error::body_limit;
        answer(failure_response(
                   request, connection,
                   HttpFailure(too_large ? HttpFailure::Kind::kBodyTooLarge
                                         : HttpFailure::Kind::kBodyIncomplete,
                               limits.body, request.content_length(), parser.get().body().size())),
               true);
        break;
      }
    }
    request.body = std::move(parser.get().body());
    if (!dispatch(request, connection, out)) break;
  }
  return std::move(out.output());
}

}  // namespace amanuensis::service
