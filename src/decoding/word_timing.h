// Word-level timestamps from cross-attention: the alignment heads' attention over the audio
// frames, normalised and median-filtered, aligned to the tokens by dynamic time warping
// (openai/whisper's timing.py, as CTranslate2 and faster-whisper implement it).
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "model/decode_batcher.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis::decoding {

struct TimedWord {
  std::string word;
  std::vector<int> tokens;
  double start = 0.0;  // seconds from the start of the window
  double end = 0.0;
  float probability = 0.0F;
};

// A segment of one window while it is being built: its tokens, times and (later) words.
struct SegmentDraft {
  double start = 0.0;
  double end = 0.0;
  std::vector<int> tokens;
  std::vector<TimedWord> words;  // absolute times once filled
};

// Warps a [rows, cols] cost matrix; returns the path as (row, col) pairs from (0, 0).
std::vector<std::pair<int, int>> dynamic_time_warping(const std::vector<float>& cost, int rows,
                                                      int cols);

struct WordTimingContext {
  model::DecodeBatcher& decoder;  // the alignment step goes through it like any other
  const model::Tokenizer& tokenizer;
  std::shared_ptr<const model::CrossAttentionCache> cross;
  std::vector<int> start_sequence;   // start of transcript, language, task
  bool split_on_characters = false;  // languages written without spaces (zh, ja, th, ...)
  std::string prepend_punctuations;
  std::string append_punctuations;
  std::stop_token stop;
};

// Fills the words of one window's segments and moves segment bounds to them; returns the end
// of the last word (the new last speech time). `window_seek` is the window's first frame,
// `window_frames` the frames of audio it holds.
double add_word_timestamps(const WordTimingContext& context, std::vector<SegmentDraft>& segments,
                           int window_seek, int window_frames, double last_speech_timestamp);

}  // namespace amanuensis::decoding
