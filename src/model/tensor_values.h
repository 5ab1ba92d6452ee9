// Tensor values and Whisper's sizes as any ModelSource gives them: widening to float32 (with
// CTranslate2's int8 scales), narrowing for writers, and the dimensions a model's tensors imply.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/model_source.h"

namespace amanuensis::model {

float half_to_float(std::uint16_t half);
// Round to nearest even, as numpy's astype(float16) and ggml's converter do.
std::uint16_t float_to_half(float value);
std::uint16_t float_to_bfloat16(float value);

// "[1500, 384]", for messages.
std::string shape_text(std::span<const std::int64_t> shape);

// The tensor widened to float32. An int8 tensor is divided by its per-row `<name>_scale`
// (CTranslate2's convention). Throws amanuensis::Error naming the model for a type that is
// neither float nor scaled int8.
std::vector<float> to_float(const ModelSource& source, const Variable& variable);

// The value of an integer scalar tensor (such as "encoder/num_heads").
int scalar_int(const ModelSource& source, std::string_view name);

struct WhisperDims {
  int n_mels = 0;
  int n_state = 0;
  int n_vocab = 0;
  int n_audio_ctx = 0;
  int n_text_ctx = 0;
  int n_audio_heads = 0;
  int n_text_heads = 0;
  int n_audio_layers = 0;
  int n_text_layers = 0;
  int n_hidden = 0;  // the feed-forward layers' width
};

// The sizes of the model, from its tensors' shapes and head counts. Throws amanuensis::Error
// naming the model when they do not have Whisper's shapes.
WhisperDims whisper_dims(const ModelSource& source);

// Every tensor a Whisper model of these sizes has, by CTranslate2's names, in a fixed order:
// what writers write and readers must provide (the head counts excepted, which are scalars).
std::vector<std::string> whisper_tensor_names(const WhisperDims& dims);

}  // namespace amanuensis::model
