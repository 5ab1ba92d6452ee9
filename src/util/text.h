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

// " " + strip(text): how Whisper prompts start a word. (Built with append: GCC 12 warns
// falsely about `" " + std::string` under -O3, -Wrestrict.)
inline std::string with_leading_space(std::string_view text) {
  std::string spaced(1, ' ');
  spaced.append(strip(text));
  return spaced;
}

}  // namespace amanuensis::util
