#include "service/http_types.h"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <charconv>
#include <ostream>  // before Boost: its string_view needs it complete
#include <utility>

namespace amanuensis::service {

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename Map>
std::string first_value(const Map& map, std::string_view name) {
  const auto it = map.find(name);
  return it == map.end() ? std::string() : it->second;
}

std::string reason_phrase(int status) {
  if (status == 499) return "Client Closed Request";  // nginx's; not in Beast's table
  const auto reason = boost::beast::http::obsolete_reason(
      static_cast<boost::beast::http::status>(static_cast<unsigned>(status)));
  return reason.empty() || reason == "<unknown-status>" ? "Status" : std::string(reason);
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return lower(x) < lower(y); });
}

bool Request::has_header(std::string_view name) const { return headers.contains(name); }

std::string Request::get_header_value(std::string_view name) const {
  return first_value(headers, name);
}

bool Request::has_param(std::string_view name) const { return params.contains(name); }

std::string Request::get_param_value(std::string_view name) const {
  return first_value(params, name);
}

std::optional<std::uint64_t> Request::content_length() const {
  if (!has_header("Content-Length")) return std::nullopt;
  const std::string text = get_header_value("Content-Length");
  std::uint64_t length = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return length;
}

void Response::set_header(std::string_view name, std::string value) {
  headers.erase(std::string(name));
  headers.emplace(std::string(name), std::move(value));
}

bool Response::has_header(std::string_view name) const { return headers.contains(name); }

std::string Response::get_header_value(std::string_view name) const {
  return first_value(headers, name);
}

void Response::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", std::string(content_type));
}

void Response::set_chunked_content_provider(std::string_view content_type,
                                            ChunkedContentProvider provider,
                                            ContentProviderDone done) {
  body.clear();
  set_header("Content-Type", std::string(content_type));
  content_provider = std::move(provider);
  content_provider_done = std::move(done);
}

std::string url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void split_target(std::string_view target, std::string& path, Params& params) {
  const auto question = target.find('?');
  path = url_decode(target.substr(0, question), /*plus_is_space=*/false);
  if (question == std::string_view::npos) return;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto equals = pair.find('=');
    params.emplace(url_decode(pair.substr(0, equals), true),
                   equals == std::string_view::npos ? std::string()
                                                    : url_decode(pair.substr(equals + 1), true));
  }
}

std::string serialize_head(const Response& response, bool close, bool chunked,
                           std::size_t content_length) {
  std::string head =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    // Framing is ours to decide: a handler's Content-Length or Connection would contradict it.
    if (iequals(name, "Content-Length") || iequals(name, "Connection") ||
        iequals(name, "Transfer-Encoding")) {
      continue;
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head += close ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  head += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                  : "Content-Length: " + std::to_string(content_length) + "\r\n";
  head += "\r\n";
  return head;
}

}  // namespace amanuensis::service
