#include "formats/transcript_formats.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace amanuensis::formats {

namespace {

std::string strip(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\n\r") - first + 1);
}

// HH:MM:SS followed by the decimal marker SRT (',') or VTT ('.') uses and milliseconds.
std::string timestamp(double seconds, char decimal_marker) {
  const auto total_ms = static_cast<long long>(std::llround(std::max(0.0, seconds) * 1000.0));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld%c%03lld", total_ms / 3600000,
                total_ms / 60000 % 60, total_ms / 1000 % 60, decimal_marker, total_ms % 1000);
  return buffer;
}

// Rounds to milliseconds so the JSON does not carry binary noise such as 10.540000000000001.
double rounded(double seconds) { return std::round(seconds * 1000.0) / 1000.0; }

void write_json(std::ostream& out, const Transcription& transcription, const std::string& source) {
  nlohmann::json segments = nlohmann::json::array();
  std::string text;
  for (const auto& s : transcription.segments) {
    text += s.text;
    segments.push_back({{"id", s.id},
                        {"seek", s.seek},
                        {"start", rounded(s.start)},
                        {"end", rounded(s.end)},
                        {"text", s.text},
                        {"tokens", s.tokens},
                        {"temperature", s.temperature},
                        {"avg_logprob", s.avg_logprob},
                        {"compression_ratio", s.compression_ratio},
                        {"no_speech_prob", s.no_speech_prob}});
  }
  const nlohmann::json document = {{"file", source},
                                   {"language", transcription.language},
                                   {"duration", rounded(transcription.duration)},
                                   {"text", text},
                                   {"segments", segments}};
  // Invalid UTF-8 cannot occur (the tokenizer repairs it), but a dump must never throw.
  out << document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

void write_subtitles(std::ostream& out, const Transcription& transcription, bool vtt) {
  if (vtt) out << "WEBVTT\n\n";
  int index = 1;
  for (const auto& s : transcription.segments) {
    if (!vtt) out << index++ << '\n';
    const char marker = vtt ? '.' : ',';
    out << timestamp(s.start, marker) << " --> " << timestamp(s.end, marker) << '\n'
        << strip(s.text) << "\n\n";
  }
}

}  // namespace

OutputFormat parse_output_format(std::string_view name) {
  if (name == "txt") return OutputFormat::kText;
  if (name == "json") return OutputFormat::kJson;
  if (name == "srt") return OutputFormat::kSrt;
  if (name == "vtt") return OutputFormat::kVtt;
  throw Error("unknown output format '" + std::string(name) + "' (expected txt, json, srt or vtt)");
}

std::string_view file_extension(OutputFormat format) {
  switch (format) {
    case OutputFormat::kText:
      return "txt";
    case OutputFormat::kJson:
      return "json";
    case OutputFormat::kSrt:
      return "srt";
    case OutputFormat::kVtt:
      return "vtt";
  }
  return "txt";
}

void write_transcript(std::ostream& out, OutputFormat format, const Transcription& transcription,
                      const std::string& source) {
  switch (format) {
    case OutputFormat::kText:
      for (const auto& s : transcription.segments) out << strip(s.text) << '\n';
      break;
    case OutputFormat::kJson:
      write_json(out, transcription, source);
      break;
    case OutputFormat::kSrt:
    case OutputFormat::kVtt:
      write_subtitles(out, transcription, format == OutputFormat::kVtt);
      break;
  }
}

}  // namespace amanuensis::formats
