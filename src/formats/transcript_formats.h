// Transcript formats shared by the CLI and the service: plain text, JSON, SubRip, WebVTT, TSV.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"

namespace amanuensis::formats {

enum class OutputFormat { kText, kJson, kSrt, kVtt };

// "txt", "json", "srt" or "vtt"; throws amanuensis::Error otherwise.
OutputFormat parse_output_format(std::string_view name);
std::string_view file_extension(OutputFormat format);

// Writes one transcript. JSON is a single line, so that several files make JSON Lines.
void write_transcript(std::ostream& out, OutputFormat format, const Transcription& transcription,
                      const std::string& source);

}  // namespace amanuensis::formats
