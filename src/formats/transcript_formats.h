// Transcript formats shared by the CLI and the service: plain text, JSON, SubRip, WebVTT, TSV.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

// Seconds rounded to milliseconds, so JSON does not carry binary noise such as 10.540000000000001.
double rounded_seconds(double seconds);

}  // namespace amanuensis::formats
