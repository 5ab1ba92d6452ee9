#include "service/multipart.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <utility>

#include "service/api_error.h"

namespace amanuensis::service {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kWhitespace = " \t";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kWhitespace) - first + 1);
}

// Shows client text in an error message without flooding it or breaking its line.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMaxShown = 60;
  std::string out = "'";
  for (const char c : text.substr(0, kMaxShown)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  return out + (text.size() > kMaxShown ? "...'" : "'");
}

// A header value such as `form-data; name="file"; filename="a.wav"`: the leading token, then
// parameters whose values are tokens or quoted strings (RFC 7230 3.2.6, with backslash escapes).
struct HeaderValue {
  std::string token;                                        // lower-cased
  std::vector<std::pair<std::string, std::string>> params;  // names lower-cased

  [[nodiscard]] std::optional<std::string> param(std::string_view name) const {
    for (const auto& [key, value] : params) {
      if (key == name) return value;
    }
    return std::nullopt;
  }
};

// Returns nullopt on a syntax error (an unterminated quote, a parameter without '=').
std::optional<HeaderValue> parse_header_value(std::string_view text) {
  HeaderValue result;
  std::size_t pos = std::min(text.find(';'), text.size());
  result.token = lower(trim(text.substr(0, pos)));
  while (pos < text.size()) {
    ++pos;  // past ';'
    while (pos < text.size() && kWhitespace.find(text[pos]) != std::string_view::npos) ++pos;
    if (pos == text.size()) break;  // a trailing ';'
    const auto equals = text.find('=', pos);
    if (equals == std::string_view::npos) return std::nullopt;
    std::string name = lower(trim(text.substr(pos, equals - pos)));
    pos = equals + 1;
    while (pos < text.size() && kWhitespace.find(text[pos]) != std::string_view::npos) ++pos;
    std::string value;
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && pos < text.size()) {
          value += text[pos++];
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
      while (pos < text.size() && text[pos] != ';') {
        if (kWhitespace.find(text[pos]) == std::string_view::npos) return std::nullopt;
        ++pos;
      }
    } else {
      const auto end = std::min(text.find(';', pos), text.size());
      value = std::string(trim(text.substr(pos, end - pos)));
      pos = end;
    }
    if (name.empty()) return std::nullopt;
    result.params.emplace_back(std::move(name), std::move(value));
  }
  return result;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// filename*=UTF-8''na%C3%AFve.wav (RFC 5987); nullopt for another charset or bad escapes.
std::optional<std::string> decode_extended_value(std::string_view value) {
  const auto first_quote = value.find('\'');
  if (first_quote == std::string_view::npos) return std::nullopt;
  const auto second_quote = value.find('\'', first_quote + 1);
  if (second_quote == std::string_view::npos) return std::nullopt;
  const std::string charset = lower(value.substr(0, first_quote));
  if (charset != "utf-8" && charset != "us-ascii") return std::nullopt;
  std::string out;
  for (std::size_t i = second_quote + 1; i < value.size(); ++i) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    if (i + 2 >= value.size()) return std::nullopt;
    const int high = hex_value(value[i + 1]);
    const int low = hex_value(value[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// Fills name, filename and content type from one part's header block (CRLF-separated lines).
void parse_part_headers(std::string_view block, std::size_t index, FormPart& part) {
  const std::string where = "multipart part " + std::to_string(index + 1);
  bool has_disposition = false;
  while (!block.empty()) {
    const auto end = std::min(block.find(kCrlf), block.size());
    const std::string_view line = block.substr(0, end);
    block.remove_prefix(std::min(end + kCrlf.size(), block.size()));
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw bad_request("malformed multipart body: " + where +
                        " has a header line without a name: " + quoted(line));
    }
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-type") {
      part.content_type = lower(value);
    } else if (name == "content-disposition") {
      const auto parsed = parse_header_value(value);
      if (!parsed || parsed->token != "form-data") {
        throw bad_request("malformed multipart body: " + where +
                          " has a Content-Disposition that is not form-data: " + quoted(value));
      }
      has_disposition = true;
      part.name = parsed->param("name").value_or("");
      if (const auto extended = parsed->param("filename*")) {
        if (auto decoded = decode_extended_value(*extended)) {
          part.has_filename = true;
          part.filename = std::move(*decoded);
        }
      }
      if (const auto filename = parsed->param("filename"); filename && !part.has_filename) {
        part.has_filename = true;
        part.filename = *filename;
      }
    }
    // Other part headers (Content-Transfer-Encoding, ...) are ignored, as RFC 7578 allows.
  }
  if (!has_disposition) {
    throw bad_request("malformed multipart body: " + where + " has no Content-Disposition header");
  }
  if (part.name.empty()) {
    throw bad_request("malformed multipart body: " + where +
                      " has no field name (Content-Disposition: form-data; name=\"...\")");
  }
}

// The headers of part `index` (from 0), which start at body[pos], into `part`; returns where the
// part's content starts. Headers end at an empty line; a part may have none at all, but then
// lacks the Content-Disposition every part needs.
std::size_t read_part_headers(std::string_view body, std::size_t pos, std::size_t index,
                              FormPart& part) {
  std::size_t content_start = 0;
  if (body.substr(pos).starts_with(kCrlf)) {
    content_start = pos + kCrlf.size();
  } else {
    const auto window = body.substr(pos, kMaxPartHeaderBytes + 4);
    const auto headers_end = window.find("\r\n\r\n");
    if (headers_end == std::string_view::npos) {
      throw bad_request(window.size() > kMaxPartHeaderBytes
                            ? "multipart part " + std::to_string(index + 1) + " has more than " +
                                  std::to_string(kMaxPartHeaderBytes) + " bytes of headers"
                            : "malformed multipart body: truncated in the headers of part " +
                                  std::to_string(index + 1));
    }
    parse_part_headers(window.substr(0, headers_end), index, part);
    content_start = pos + headers_end + 4;
  }
  if (part.name.empty()) {
    throw bad_request("malformed multipart body: part " + std::to_string(index + 1) +
                      " has no Content-Disposition header");
  }
  return content_start;
}

}  // namespace

bool is_multipart_form_data(std::string_view content_type) {
  const auto parsed = parse_header_value(content_type);
  return parsed && parsed->token == "multipart/form-data";
}

std::string multipart_boundary(std::string_view content_type) {
  const auto parsed = parse_header_value(content_type);
  if (!parsed || parsed->token != "multipart/form-data") {
    throw bad_request("Content-Type must be multipart/form-data, got " +
                      (content_type.empty() ? std::string("none") : quoted(content_type)));
  }
  const auto boundary = parsed->param("boundary");
  if (!boundary || boundary->empty()) {
    throw bad_request("multipart/form-data Content-Type has no boundary parameter");
  }
  if (boundary->size() > kMaxBoundaryLength) {
    throw bad_request("multipart boundary is longer than " + std::to_string(kMaxBoundaryLength) +
                      " characters");
  }
  if (boundary->find_first_of("\r\n") != std::string::npos) {
    throw bad_request("multipart boundary contains a line break");
  }
  return *boundary;
}

std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty()) throw bad_request("multipart boundary is empty");
  const std::string dash_boundary = "--" + std::string(boundary);
  const std::string delimiter = std::string(kCrlf) + dash_boundary;
  // Boyer-Moore: a 25 MB upload is scanned once per part, in time linear in its size.
  const std::boyer_moore_searcher find_delimiter(delimiter.begin(), delimiter.end());
  const auto search = [&](std::size_t from) -> std::size_t {
    const auto found =
        std::search(body.begin() + static_cast<std::ptrdiff_t>(from), body.end(), find_delimiter);
    return found == body.end() ? std::string_view::npos
                               : static_cast<std::size_t>(found - body.begin());
  };

  if (body.empty()) throw bad_request("multipart body is empty");
  // The first boundary may open the body or follow a preamble (which is ignored).
  std::size_t pos = 0;
  if (body.starts_with(dash_boundary)) {
    pos = dash_boundary.size();
  } else {
    const auto found = search(0);
    if (found == std::string_view::npos) {
      throw bad_request("malformed multipart body: the boundary from the Content-Type (" +
                        quoted(boundary) + ") never occurs in it");
    }
    pos = found + delimiter.size();
  }

  std::vector<FormPart> parts;
  while (true) {
    const std::string_view rest = body.substr(pos);
    if (rest.starts_with("--")) {
      if (parts.empty()) throw bad_request("multipart body contains no parts");
      return parts;  // the close delimiter; an epilogue after it is ignored
    }
    // After a boundary: optional transport padding, then CRLF.
    const auto line_end = rest.find(kCrlf);
    if (line_end == std::string_view::npos) {
      throw bad_request("malformed multipart body: truncated after part " +
                        std::to_string(parts.size()) + " (no closing boundary)");
    }
    if (!trim(rest.substr(0, line_end)).empty()) {
      throw bad_request("malformed multipart body: unexpected data after a boundary: " +
                        quoted(rest.substr(0, line_end)));
    }
    pos += line_end + kCrlf.size();
    if (parts.size() == kMaxFormParts) {
      throw bad_request("multipart body has more than " + std::to_string(kMaxFormParts) + " parts");
    }

    FormPart part;
    const std::size_t content_start = read_part_headers(body, pos, parts.size(), part);

    const auto content_end = search(content_start);
    if (content_end == std::string_view::npos) {
      throw bad_request("malformed multipart body: truncated in part '" + part.name +
                        "' (no closing boundary)");
    }
    part.data = body.substr(content_start, content_end - content_start);
    parts.push_back(std::move(part));
    pos = content_end + delimiter.size();
  }
}

}  // namespace amanuensis::service
