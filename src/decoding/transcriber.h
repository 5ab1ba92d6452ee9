// Long-form transcription: slide 30-second windows over the features, decode each, cut the
// tokens into timed segments at timestamp pairs, and seek to where the last segment ended
// (faster-whisper's generate_segments).
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

// Probability of each language on the first window, likeliest first.
std::vector<std::pair<std::string, float>> detect_language(const model::WhisperModel& model,
                                                           const model::Tokenizer& tokenizer,
                                                           std::span<const float> encoder_output);

// gzip-style compression ratio of the text: high values betray repetition loops.
float compression_ratio(const std::string& text);

Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop);

}  // namespace amanuensis::decoding
