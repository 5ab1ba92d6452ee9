// The HTTP layer's request and response, as route handlers see them.
//
// Our own small types rather than Beast's message<>: handlers never see the parser, an SSE body
// is a content provider pulled by the thread that writes the response, and the names (headers,
// params, matches, set_content, set_chunked_content_provider) are the ones the routes already
// used with cpp-httplib, so the route files barely changed when the transport did.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::service {

// Header names compare without regard to case (RFC 9110 5.1).
struct CaseInsensitiveLess {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): the standard's name
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;
using Params = std::multimap<std::string, std::string, std::less<>>;

struct Request {
  std::string method;
  std::string target;  // as sent: path and query, still percent-encoded
  std::string path;    // decoded, without the query
  Params params;       // the decoded query string
  Headers headers;
  std::string body;  // read whole before the handler runs (bounded by the upload limit)
  // Groups of the route's pattern that matched `path`: [0] is the whole path.
  std::vector<std::string> matches;
  std::string remote_addr;
  int remote_port = 0;
  bool keep_alive = true;  // what the client asked for (HTTP/1.0 defaults to close)

  [[nodiscard]] bool has_header(std::string_view name) const;
  // The first value of header `name`, or "".
  [[nodiscard]] std::string get_header_value(std::string_view name) const;
  [[nodiscard]] bool has_param(std::string_view name) const;
  [[nodiscard]] std::string get_param_value(std::string_view name) const;
  // Content-Length as sent, when it parses.
  [[nodiscard]] std::optional<std::uint64_t> content_length() const;
};

// Where a streamed (chunked) response body goes: the provider writes as news comes.
class DataSink {
 public:
  DataSink() = default;
  DataSink(const DataSink&) = delete;
  DataSink& operator=(const DataSink&) = delete;
  virtual ~DataSink() = default;
  // Sends one chunk; false once the client is gone (the provider should then give up).
  virtual bool write(const char* data, std::size_t size) = 0;
  // False once the client has closed its end: lets a provider stop waiting for news early.
  [[nodiscard]] virtual bool is_writable() const = 0;
  // Ends the body; the provider is not called again.
  virtual void done() = 0;
};

// Called until it calls sink.done() (success) or returns false (the response is cut short and the
// connection closed).
using ChunkedContentProvider = std::function<bool(DataSink& sink)>;
// Called once when the streamed body ends; `success` is false when it was cut short.
using ContentProviderDone = std::function<void(bool success)>;

struct Response {
  int status = -1;  // -1: no handler answered
  Headers headers;
  std::string body;
  ChunkedContentProvider content_provider;
  ContentProviderDone content_provider_done;

  void set_header(std::string_view name, std::string value);
  [[nodiscard]] bool has_header(std::string_view name) const;
  [[nodiscard]] std::string get_header_value(std::string_view name) const;
  void set_content(std::string content, std::string_view content_type);
  void set_chunked_content_provider(std::string_view content_type, ChunkedContentProvider provider,
                                    ContentProviderDone done = {});
};

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in a query string).
std::string url_decode(std::string_view text, bool plus_is_space);
// Splits `target` into its decoded path and query parameters.
void split_target(std::string_view target, std::string& path, Params& params);
// The response's status line and headers, with Content-Length (or chunked) and Connection added.
std::string serialize_head(const Response& response, bool close, bool chunked,
                           std::size_t content_length);

}  // namespace amanuensis::service
