// Transcribing one waveform: the sequential long-form loop (faster-whisper's
// WhisperModel.transcribe), optionally on the speech the VAD finds only, or the batched pipeline
// (faster-whisper's BatchedInferencePipeline); segment times always refer to the whole audio.
#pragma once

#include <span>
#include <stop_token>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/decode_batcher.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

// gzip-style compression ratio of the text: high values betray repetition loops.
float compression_ratio(const std::string& text);

// Decoder steps go through `decoder`, so that concurrent transcriptions sharing it (and its
// model) merge their steps; `stop` cancels between steps and windows (Cancelled).
Transcription transcribe(model::DecodeBatcher& decoder, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop,
                         const InfoCallback& on_info = {});

// The same with a batcher of its own: every step runs alone, on this thread.
Transcription transcribe(const model::WhisperModel& model, const model::Tokenizer& tokenizer,
                         std::span<const float> audio, const TranscribeOptions& options,
                         const SegmentCallback& on_segment, const std::stop_token& stop,
                         const InfoCallback& on_info = {});

}  // namespace amanuensis::decoding
