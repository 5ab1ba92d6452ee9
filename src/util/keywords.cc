// parse_keywords and validate(Keyword) (amanuensis.h): the CLI's --keywords, the server's
// keywords[] and the realtime session's keywords share this spelling. On its own, with no other
// dependency, so that the fuzz targets of those parsers link it alone.
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis {

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool weight_in_range(float weight) {
  return std::isfinite(weight) && weight > 0.0F && weight <= 10.0F;
}

}  // namespace

void validate(const Keyword& keyword) {
  if (keyword.text.empty()) throw Error("keywords: a keyword is empty");
  if (!weight_in_range(keyword.weight)) {
    throw Error("keywords: '" + keyword.text + "' has weight " + std::to_string(keyword.weight) +
                "; weights are above 0 and at most 10");
  }
}

std::vector<Keyword> parse_keywords(std::string_view text) {
  std::vector<Keyword> keywords;
  if (trimmed(text).empty()) return keywords;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view entry = trimmed(text.substr(0, comma));
    Keyword keyword{std::string(entry), 1.0F};
    const auto colon = entry.rfind(':');
    if (colon != std::string_view::npos) {
      const std::string_view weight = trimmed(entry.substr(colon + 1));
      float value = 0.0F;
      const auto [end, error] =
          std::from_chars(weight.data(), weight.data() + weight.size(), value);
      if (weight.empty() || error != std::errc{} || end != weight.data() + weight.size() ||
          !weight_in_range(value)) {
        throw Error("keywords: '" + std::string(entry) +
                    "' has a weight that is not a number above 0 and at most 10");
      }
      keyword = {std::string(trimmed(entry.substr(0, colon))), value};
    }
    if (keyword.text.empty()) {
      throw Error("keywords: an empty keyword in '" + std::string(trimmed(text)) + "'");
    }
    keywords.push_back(std::move(keyword));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return keywords;
}

}  // namespace amanuensis
