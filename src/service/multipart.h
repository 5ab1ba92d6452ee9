// multipart/form-data (RFC 7578) parsing of a request body held in memory.
//
// Our own parser rather than cpp-httplib's: Debian's httplib 0.11.4 is a compiled library whose
// parser we could neither fuzz nor instrument, it matches part headers with std::regex, and when
// it fails it answers a bare 400 that does not say why. This one returns views into the body (no
// copy of a 25 MB upload) and throws ApiError(400) with a message naming what is wrong.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::service {

struct FormPart {
  std::string name;
  bool has_filename = false;  // a file part (filename="..." given, possibly empty)
  std::string filename;
  std::string content_type;  // as sent, lower-cased; empty if the part has none
  std::string_view data;     // the part's bytes, pointing into the parsed body
};

// Parts beyond this many are refused: a form with thousands of fields is an attack, not a client.
inline constexpr std::size_t kMaxFormParts = 256;
// Header block of one part, and length of a boundary (RFC 2046 allows 70; we are lenient).
inline constexpr std::size_t kMaxPartHeaderBytes = 16 * 1024;
inline constexpr std::size_t kMaxBoundaryLength = 200;

// True when `content_type` is multipart/form-data (parameters and case aside).
bool is_multipart_form_data(std::string_view content_type);

// The boundary parameter of a multipart/form-data Content-Type. Throws ApiError (400) when the
// type is not multipart/form-data or the boundary is missing or invalid.
std::string multipart_boundary(std::string_view content_type);

// Splits `body` into its parts. Throws ApiError (400) for a body that is not well-formed
// multipart/form-data with this boundary: no opening boundary, a truncated part, a part without
// Content-Disposition: form-data; name=..., too many parts, ...
std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace amanuensis::service
