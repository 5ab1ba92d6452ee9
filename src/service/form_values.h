// Reading one form field's text as a value: numbers, booleans, lists and bounded text, each
// failure a 400 that names the field and quotes (a printable prefix of) what the client sent.
// Shared by every form the service reads (transcription options, VAD settings).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::service {

// Longest text field (prompt, hotwords, prefix, a JSON object) accepted; the model only sees a
// few hundred tokens of a prompt anyway.
inline constexpr std::size_t kMaxTextFieldBytes = 64 * 1024;

std::string_view trim(std::string_view text);
std::string lower(std::string_view text);

// Client text quoted in a message: short, printable, on one line, in single quotes.
std::string shown(std::string_view text);

// `value` printed the shortest way ("0.5", "1e+06").
std::string number_text(double value);

// 400 "invalid FIELD 'VALUE': expected EXPECTED", param FIELD.
[[noreturn]] void bad_value(std::string_view field, std::string_view value,
                            std::string_view expected);

// A finite number within [min, max] ("+1", " 2.5 " accepted; "nan", "inf", "1e999" not).
float parse_float(std::string_view field, std::string_view raw, float min, float max);
// A whole number within [min, max].
int parse_int(std::string_view field, std::string_view raw, int min, int max);
// A whole number of any size up to 2^64 - 1.
unsigned long long parse_unsigned(std::string_view field, std::string_view raw);
// true/false, 1/0, yes/no, on/off, any case.
bool parse_bool(std::string_view field, std::string_view raw);
// "none", "null" or empty: a threshold turned off.
bool is_none(std::string_view raw);
// "0.2,0.4", "[0.2, 0.4]" or "0.2 0.4": faster-whisper users write lists several ways.
std::vector<std::string_view> split_list(std::string_view raw);
// The text itself, refused beyond kMaxTextFieldBytes.
std::string parse_text(std::string_view field, std::string_view raw);

}  // namespace amanuensis::service
