#include "service/form_values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "service/api_error.h"

namespace amanuensis::service {

namespace {

template <typename T>
T parse_number(std::string_view field, std::string_view raw, std::string_view expected) {
  const auto text = trim(raw);
  T value{};
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;  // from_chars refuses a leading '+'
  const auto [end, error] = std::from_chars(first, last, value);
  if (text.empty() || error != std::errc() || end != last) bad_value(field, raw, expected);
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) bad_value(field, raw, expected);
  }
  return value;
}

}  // namespace

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 40;
  std::string out = "'";
  for (const char c : text.substr(0, kMaxShown)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  return out + (text.size() > kMaxShown ? "...'" : "'");
}

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

void bad_value(std::string_view field, std::string_view value, std::string_view expected) {
  throw bad_request(
      "invalid " + std::string(field) + " " + shown(value) + ": expected " + std::string(expected),
      std::string(field));
}

float parse_float(std::string_view field, std::string_view raw, float min, float max) {
  const auto value = parse_number<float>(field, raw, "a number");
  if (value < min || value > max) {
    bad_value(field, raw, "a number from " + number_text(min) + " to " + number_text(max));
  }
  return value;
}

int parse_int(std::string_view field, std::string_view raw, int min, int max) {
  const auto value = parse_number<long long>(field, raw, "an integer");
  if (value < min || value > max) {
    bad_value(field, raw, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<int>(value);
}

unsigned long long parse_unsigned(std::string_view field, std::string_view raw) {
  return parse_number<unsigned long long>(field, raw, "a non-negative integer");
}

bool parse_bool(std::string_view field, std::string_view raw) {
  const auto text = lower(trim(raw));
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  bad_value(field, raw, "true or false");
}

bool is_none(std::string_view raw) {
  const auto text = lower(trim(raw));
  return text == "none" || text == "null" || text.empty();
}

std::vector<std::string_view> split_list(std::string_view raw) {
  auto text = trim(raw);
  if (text.starts_with('[') && text.ends_with(']')) text = trim(text.substr(1, text.size() - 2));
  std::vector<std::string_view> items;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find_first_of(", ", pos), text.size());
    if (end > pos) items.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return items;
}

std::string parse_text(std::string_view field, std::string_view raw) {
  if (raw.size() > kMaxTextFieldBytes) {
    throw bad_request(
        std::string(field) + " is longer than " + std::to_string(kMaxTextFieldBytes) + " bytes",
        std::string(field));
  }
  return std::string(raw);
}

}  // namespace amanuensis::service
