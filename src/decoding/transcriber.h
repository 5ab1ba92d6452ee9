// Long-form transcription: slide 30-second windows over the features, decode each, cut the
// tokens into timed segments at timestamp pairs, and seek to where the last segment ended
// (faster-whisper's generate_segments).
#pragma once

#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

// Probability of each language on the first window, likeliest first.
std::vector<std::pair<std::string, float>> detect_language(model::DecodeBatcher& decoder,
                                                           const model::Tokenizer& tokenizer,
                                                           std::span<const float> encoder_output,
                                                           const std::stop_token& stop);

// gzip-style compression ratio of the text: high values betray repetition loops.
float compression_ratio(const std::string& text);

// Decoder steps go through `decoder`, so that concurrent transcriptions sharing it (and its
// model) merge their steps; `stop` cancels between steps and windows (Cancelled).
Transcription transcribe(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop);

// The same with a batcher of its own: every step runs alone, on this thread.
Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop);

}  // namespace amanuensis::decoding
