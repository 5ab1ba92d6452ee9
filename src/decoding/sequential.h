// faster-whisper's WhisperModel.transcribe() over one waveform: 30-second windows slide over the
// features; each is decoded with temperature fallback, prompted with the text before it, cut
// into segments at its timestamps, and the next window starts where its last segment ended.
#pragma once

#include <functional>
#include <span>
#include <stop_token>

#include "amanuensis/amanuensis.h"
#include "decoding/segment_split.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

// `options` are checked already; `result` gets the language (and its probabilities), `sink`
// every segment, timed in seconds of `audio`.
void transcribe_sequential(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                           std::span<const float> audio, const TranscribeOptions& options,
                           const SegmentSink& sink, const std::function<void()>& settled,
                           const std::stop_token& stop, Transcription& result);

}  // namespace amanuensis::decoding
