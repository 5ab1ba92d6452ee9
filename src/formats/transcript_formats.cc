#include "formats/transcript_formats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <utility>

#include "util/languages.h"
#include "util/text.h"

namespace amanuensis::formats {

namespace {

using util::strip;

// HH:MM:SS followed by the decimal marker SRT (',') or VTT ('.') uses and milliseconds.
std::string timestamp(double seconds, char decimal_marker) {
  const auto total_ms = static_cast<long long>(std::llround(std::max(0.0, seconds) * 1000.0));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld%c%03lld", total_ms / 3600000,
                total_ms / 60000 % 60, total_ms / 1000 % 60, decimal_marker, total_ms % 1000);
  return buffer;
}

void write_json(std::ostream& out, const Transcription& transcription, const std::string& source) {
  nlohmann::json segments = nlohmann::json::array();
  std::string text;
  for (const auto& s : transcription.segments) {
    text += s.text;
    segments.push_back(segment_json(s));
  }
  nlohmann::json document = {
      {"file", source},
      {"language", transcription.language},
      {"language_probability", transcription.language_probability},
      {"duration", rounded_seconds(transcription.duration)},
      {"duration_after_vad", rounded_seconds(transcription.duration_after_vad)},
      {"text", text},
      {"segments", segments}};
  if (auto logprobs = transcription_logprobs(transcription)) document["logprobs"] = *logprobs;
  // The tokenizer repairs invalid UTF-8, but a dump must never throw.
  out << document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

struct Cue {
  double start;
  double end;
  std::string text;
};

// One cue per segment, or with highlighting one per word of each segment: the segment's text
// with that word underlined.
std::vector<Cue> cues(const Transcription& transcription, bool highlight_words) {
  std::vector<Cue> out;
  for (const auto& s : transcription.segments) {
    if (!highlight_words || s.words.empty()) {
      out.push_back({s.start, s.end, strip(s.text)});
      continue;
    }
    for (std::size_t i = 0; i < s.words.size(); ++i) {
      std::string text;
      for (std::size_t k = 0; k < s.words.size(); ++k) {
        const auto& word = s.words[k].word;
        if (k != i) {
          text += word;
          continue;
        }
        const auto lead = word.find_first_not_of(' ');
        text += word.substr(0, lead == std::string::npos ? 0 : lead) + "<u>" +
                (lead == std::string::npos ? word : word.substr(lead)) + "</u>";
      }
      out.push_back({s.words[i].start, s.words[i].end, strip(text)});
    }
  }
  return out;
}

void write_subtitles(std::ostream& out, const Transcription& transcription, bool vtt,
                     bool highlight) {
  if (vtt) out << "WEBVTT\n\n";
  int index = 1;
  const char marker = vtt ? '.' : ',';
  for (const auto& cue : cues(transcription, highlight)) {
    if (!vtt) out << index++ << '\n';
    out << timestamp(cue.start, marker) << " --> " << timestamp(cue.end, marker) << '\n'
        << cue.text << "\n\n";
  }
}

// openai-whisper's TSV: start and end in integer milliseconds, then the text.
void write_tsv(std::ostream& out, const Transcription& transcription) {
  out << "start\tend\ttext\n";
  for (const auto& s : transcription.segments) {
    auto text = strip(s.text);
    std::replace(text.begin(), text.end(), '\t', ' ');
    out << std::llround(s.start * 1000.0) << '\t' << std::llround(s.end * 1000.0) << '\t' << text
        << '\n';
  }
}

}  // namespace

double rounded_seconds(double seconds) { return std::round(seconds * 1000.0) / 1000.0; }

nlohmann::json logprobs_json(std::span<const TokenLogprob> logprobs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : logprobs) {
    std::vector<int> bytes;
    bytes.reserve(l.bytes.size());
    for (const char c : l.bytes) bytes.push_back(static_cast<unsigned char>(c));
    out.push_back({{"token", l.token}, {"bytes", std::move(bytes)}, {"logprob", l.logprob}});
  }
  return out;
}

std::optional<nlohmann::json> transcription_logprobs(const Transcription& t) {
  std::vector<TokenLogprob> all;
  for (const auto& s : t.segments) all.insert(all.end(), s.logprobs.begin(), s.logprobs.end());
  if (all.empty()) return std::nullopt;
  return logprobs_json(all);
}

nlohmann::json transcription_json(const Transcription& t) {
  nlohmann::json segments = nlohmann::json::array();
  for (const auto& s : t.segments) {
    auto segment = segment_json(s);
    // Kept per segment, so that a job's result renders them as a direct request would.
    if (!s.logprobs.empty()) segment["logprobs"] = logprobs_json(s.logprobs);
    segments.push_back(std::move(segment));
  }
  return {{"language", t.language},
          {"language_probability", t.language_probability},
          {"duration", rounded_seconds(t.duration)},
          {"duration_after_vad", rounded_seconds(t.duration_after_vad)},
          {"text", full_text(t)},
          {"segments", segments}};
}

Transcription transcription_from_json(const nlohmann::json& json) {
  Transcription t;
  t.language = json.at("language").get<std::string>();
  t.language_probability = json.value("language_probability", 1.0F);
  t.duration = json.at("duration").get<double>();
  t.duration_after_vad = json.value("duration_after_vad", t.duration);
  for (const auto& s : json.at("segments")) {
    Segment segment;
    segment.id = s.at("id").get<int>();
    segment.seek = s.at("seek").get<int>();
    segment.start = s.at("start").get<double>();
    segment.end = s.at("end").get<double>();
    segment.text = s.at("text").get<std::string>();
    segment.tokens = s.at("tokens").get<std::vector<int>>();
    segment.temperature = s.at("temperature").get<float>();
    segment.avg_logprob = s.at("avg_logprob").get<float>();
    segment.compression_ratio = s.at("compression_ratio").get<float>();
    segment.no_speech_prob = s.at("no_speech_prob").get<float>();
    segment.language = s.value("language", "");
    for (const auto& l : s.value("logprobs", nlohmann::json::array())) {
      const auto bytes = l.at("bytes").get<std::vector<int>>();
      segment.logprobs.push_back({l.at("token").get<std::string>(),
                                  std::string(bytes.begin(), bytes.end()),
                                  l.at("logprob").get<float>()});
    }
    for (const auto& w : s.value("words", nlohmann::json::array())) {
      segment.words.push_back({w.at("start").get<double>(), w.at("end").get<double>(),
                               w.at("word").get<std::string>(), w.at("probability").get<float>()});
    }
    t.segments.push_back(std::move(segment));
  }
  return t;
}

nlohmann::json segment_json(const Segment& s) {
  nlohmann::json json = {{"id", s.id},
                         {"seek", s.seek},
                         {"start", rounded_seconds(s.start)},
                         {"end", rounded_seconds(s.end)},
                         {"text", s.text},
                         {"tokens", s.tokens},
                         {"temperature", s.temperature},
                         {"avg_logprob", s.avg_logprob},
                         {"compression_ratio", s.compression_ratio},
                         {"no_speech_prob", s.no_speech_prob}};
  if (!s.language.empty()) json["language"] = s.language;  // with multilingual
  if (!s.words.empty()) {
    nlohmann::json words = nlohmann::json::array();
    for (const auto& w : s.words) {
      words.push_back({{"start", rounded_seconds(w.start)},
                       {"end", rounded_seconds(w.end)},
                       {"word", w.word},
                       {"probability", w.probability}});
    }
    json["words"] = std::move(words);
  }
  return json;
}

std::string full_text(const Transcription& transcription) {
  std::string text;
  for (const auto& s : transcription.segments) text += s.text;
  return strip(text);
}

std::string_view language_name(std::string_view code) {
  for (const auto& language : util::whisper_languages()) {
    if (language.code == code) return language.name;
  }
  return {};
}

nlohmann::json verbose_json(const Transcription& transcription, const VerboseJsonOptions& options) {
  const auto name = language_name(transcription.language);
  nlohmann::json document = {
      {"task", options.task},
      {"language", name.empty() ? transcription.language : std::string(name)},
      {"duration", rounded_seconds(transcription.duration)},
      {"text", full_text(transcription)}};
  if (options.segments) {
    nlohmann::json segments = nlohmann::json::array();
    for (std::size_t i = 0; i < transcription.segments.size(); ++i) {
      auto segment = segment_json(transcription.segments[i]);
      segment["id"] = i;  // OpenAI numbers segments from 0; faster-whisper from 1
      segments.push_back(std::move(segment));
    }
    document["segments"] = std::move(segments);
  }
  if (options.words) {
    nlohmann::json words = nlohmann::json::array();
    for (const auto& s : transcription.segments) {
      for (const auto& w : s.words) {
        words.push_back({{"word", w.word},
                         {"start", rounded_seconds(w.start)},
                         {"end", rounded_seconds(w.end)},
                         {"probability", w.probability}});
      }
    }
    document["words"] = std::move(words);
  }
  return document;
}

OutputFormat parse_output_format(std::string_view name) {
  if (name == "txt") return OutputFormat::kText;
  if (name == "json") return OutputFormat::kJson;
  if (name == "srt") return OutputFormat::kSrt;
  if (name == "vtt") return OutputFormat::kVtt;
  if (name == "tsv") return OutputFormat::kTsv;
  throw Error("unknown output format '" + std::string(name) +
              "' (expected txt, json, srt, vtt or tsv)");
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
    case OutputFormat::kTsv:
      return "tsv";
  }
  return "txt";
}

void write_transcript(std::ostream& out, OutputFormat format, const Transcription& transcription,
                      const std::string& source, const WriteOptions& options) {
  switch (format) {
    case OutputFormat::kText:
      for (const auto& s : transcription.segments) out << strip(s.text) << '\n';
      break;
    case OutputFormat::kJson:
      write_json(out, transcription, source);
      break;
    case OutputFormat::kSrt:
    case OutputFormat::kVtt:
      write_subtitles(out, transcription, format == OutputFormat::kVtt, options.highlight_words);
      break;
    case OutputFormat::kTsv:
      write_tsv(out, transcription);
      break;
  }
}

}  // namespace amanuensis::formats
