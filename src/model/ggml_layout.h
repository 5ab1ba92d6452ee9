// What whisper.cpp's ggml model file holds and how it maps onto CTranslate2's tensors: shared by
// the reader (ggml_model_source.cc) and the writer (ggml_writer.cc).
//
// Layout (little-endian), as whisper.cpp's convert-pt-to-ggml.py writes it and
// whisper_model_load() reads it:
//   u32 magic "ggml" | i32 hparams[11] (n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
//   n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype)
//   i32 n_mel, i32 n_fft, f32 filters[n_mel * n_fft]
//   i32 n_tokens, n_tokens x { i32 length, raw bytes }   (the ordinary tokens; the loader
//                                                         makes up the special ones)
//   until the end: i32 n_dims, i32 name length, i32 ggml type, i32 ne[n_dims] (innermost
//   first), name, data
// ftype is a ggml_ftype, plus 1000 x the quantization version (2) in quantized files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/ggml_blocks.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

struct GgmlHparams {
  std::int32_t n_vocab = 0;
  std::int32_t n_audio_ctx = 0;
  std::int32_t n_audio_state = 0;
  std::int32_t n_audio_head = 0;
  std::int32_t n_audio_layer = 0;
  std::int32_t n_text_ctx = 0;
  std::int32_t n_text_state = 0;
  std::int32_t n_text_head = 0;
  std::int32_t n_text_layer = 0;
  std::int32_t n_mels = 0;
  std::int32_t ftype = 0;
};

inline constexpr std::int32_t kGgmlQuantVersionFactor = 1000;
inline constexpr std::int32_t kGgmlQuantVersion = 2;

GgmlHparams hparams_for(const WhisperDims& dims, std::int32_t ftype);
WhisperDims dims_for(const GgmlHparams& hparams);

// The ggml_ftype whisper.cpp's tools write for weights of `type` (q8_0 is 7, q5_0 8, ...),
// without the quantization version.
std::int32_t ggml_ftype_for(GgmlType type);
// The stored type a file's ftype (quantization version removed) names: "float32", "float16",
// "q4_0", ...; empty when it is none whisper.cpp knows.
std::string stored_type_for_ftype(std::int32_t ftype);

// One tensor of the file: its whisper.cpp name and shape (outermost first, as PyTorch has it;
// the file lists the dimensions the other way round), and where it lies in CTranslate2's
// tensors: rows [part * n, (part + 1) * n) of `ct2_name`, which has `parts` such blocks (the
// fused attention projections; parts missing from the file, the key biases, are zeros).
struct GgmlTensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string ct2_name;
  int part = 0;
  int parts = 1;
};

// Every tensor a whisper.cpp file of these sizes holds, in the order its converter writes them.
std::vector<GgmlTensorSpec> ggml_tensor_specs(const WhisperDims& dims);

// The shape of the CTranslate2 tensor a spec is part of.
std::vector<std::int64_t> ct2_shape_of(const GgmlTensorSpec& spec);

// The type the writer stores a tensor in, for weights of `weights` type: 1-D tensors, the
// convolution biases and positional embeddings f32; convolution weights f16; matrices in
// `weights` (f16 where a row is not whole blocks). With f32 weights, everything f32.
GgmlType stored_tensor_type(const GgmlTensorSpec& spec, GgmlType weights);

}  // namespace amanuensis::model
