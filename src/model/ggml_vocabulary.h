// The parts of a Whisper vocabulary and decoding configuration that a whisper.cpp file does not
// hold: the special tokens (whisper.cpp numbers them from the vocabulary size), the non-speech
// tokens to suppress, the language tokens and the alignment heads; and the spelling of tokens
// as raw bytes (the file) or GPT-2 byte-level strings (CTranslate2, tokenizer.json), which
// tokenizer.h converts between.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_source.h"
#include "model/tensor_values.h"
#include "model/tokenizer.h"

namespace amanuensis::model {

// Id of <|endoftext|> for a model of `n_vocab` tokens, as whisper.cpp numbers it: 50256 for the
// English-only models (n_vocab < 51865), else 50257; every lower id is an ordinary token.
int whisper_eot(int n_vocab);
// The tokens from <|endoftext|> to n_vocab - 1: <|startoftranscript|>, the languages in
// Whisper's order, the tasks, <|startoflm|>, <|startofprev|>, <|nocaptions|> (English-only) or
// <|nospeech|>, <|notimestamps|>, <|0.00|> ... <|30.00|>. Empty when n_vocab leaves no room for
// them, or room for more languages than Whisper has.
std::vector<std::string> whisper_special_tokens(int n_vocab);

// The configuration faster-whisper's CTranslate2 models carry, derived from the vocabulary and
// the sizes: suppress_ids as openai-whisper's suppress_tokens "-1" (the non-speech symbols and
// the special tokens but <|endoftext|> and <|notimestamps|>), suppress_ids_begin (" " and
// <|endoftext|>), the language ids, and the alignment heads (openai-whisper's for the model
// sizes that identify one, else the last half of the decoder layers, every head).
WhisperConfig derived_whisper_config(const Vocabulary& vocabulary, const WhisperDims& dims);

}  // namespace amanuensis::model
