// Small text helpers shared by the layers that build and print transcripts.
#pragma once

#include <string>
#include <string_view>

namespace amanuensis::util {

// `text` without leading and trailing ASCII whitespace (Python's str.strip()).
inline std::string strip(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\n\r\f\v";
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return std::string(text.substr(first, text.find_last_not_of(kWhitespace) - first + 1));
}

// " " + strip(text): a prompt, prefix or hotwords as Whisper reads them. Built by appending, as
// GCC 12 at -O3 misreads operator+(const char*, std::string&&) (a false -Wrestrict, an error
// under the ci preset).
inline std::string with_leading_space(std::string_view text) {
  return std::string(" ").append(strip(text));
}

}  // namespace amanuensis::util
