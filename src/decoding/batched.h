// faster-whisper's BatchedInferencePipeline: the audio is cut into chunks of at most 30 seconds
// (speech found by the VAD, merged; or the caller's clip_timestamps), and `batch_size` chunks at a
// time are encoded and decoded together, every decoder step carrying all their beams. Each chunk
// is decoded on its own: no previous text as prompt, the first temperature only, no fallback.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <stop_token>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/segment_split.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {

// One piece of audio to transcribe as a window of its own.
struct AudioChunk {
  std::vector<float> samples;
  double offset = 0.0;  // seconds: where its segments' times start
};

// `chunks` hold audio (none is empty; there may be none). `options` are checked already;
// `result` gets the language, `sink` the segments, timed from each chunk's offset.
void transcribe_batched(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                        std::span<const AudioChunk> chunks, const TranscribeOptions& options,
                        const SegmentSink& sink, const std::function<void()>& settled,
                        const std::stop_token& stop, Transcription& result);

}  // namespace amanuensis::decoding
