// Transcript formats shared by the CLI and the service: plain text, JSON, SubRip, WebVTT, TSV.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"

namespace amanuensis::formats {

enum class OutputFormat { kText, kJson, kSrt, kVtt, kTsv };

// "txt", "json", "srt", "vtt" or "tsv"; throws amanuensis::Error otherwise.
OutputFormat parse_output_format(std::string_view name);
std::string_view file_extension(OutputFormat format);

struct WriteOptions {
  // SRT/VTT: one cue per word, the current word underlined (as openai-whisper's
  // --highlight_words). Needs word timestamps.
  bool highlight_words = false;
};

// Writes one transcript. JSON is a single line, so that several files make JSON Lines.
void write_transcript(std::ostream& out, OutputFormat format, const Transcription& transcription,
                      const std::string& source, const WriteOptions& options = {});

// A segment as JSON, with faster-whisper's field names (words only when present).
nlohmann::json segment_json(const Segment& segment);

// The whole transcription as JSON (language, its probability, duration, text, segments), and back:
// how batch jobs keep results. from_json throws nlohmann::json::exception on a malformed document.
nlohmann::json transcription_json(const Transcription& transcription);

// OpenAI's logprobs: [{"token", "bytes", "logprob"}, ...].
nlohmann::json logprobs_json(std::span<const TokenLogprob> logprobs);
// Every segment's logprobs in order; unset when no segment has any (they were not asked for).
std::optional<nlohmann::json> transcription_logprobs(const Transcription& transcription);
Transcription transcription_from_json(const nlohmann::json& json);

// Seconds rounded to milliseconds, so JSON does not carry binary noise such as 10.540000000000001.
double rounded_seconds(double seconds);

// The whole transcript as one string: the segments' text joined, without surrounding space.
std::string full_text(const Transcription& transcription);

// Whisper's English name of a language code, as OpenAI's verbose_json reports it ("en" ->
// "english"); empty for a code Whisper does not know.
std::string_view language_name(std::string_view code);

// OpenAI's verbose_json response (the HTTP API): task, language by name, duration, text, and
// segments (ids from 0) and/or words as asked by timestamp_granularities[].
struct VerboseJsonOptions {
  std::string task = "transcribe";
  bool segments = true;
  bool words = false;
};
nlohmann::json verbose_json(const Transcription& transcription, const VerboseJsonOptions& options);

}  // namespace amanuensis::formats
