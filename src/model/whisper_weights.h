// Whisper's weights and sizes, read from a CTranslate2 model folder into float32, or with the
// dense layers' weights as int8 (per output channel scales) for WeightType::kInt8.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/int8_gemm.h"
#include "model/model_source.h"

namespace amanuensis::model {

// How the dense layers' weights are held in memory (and so how they are multiplied).
enum class WeightType {
  kFloat32,  // float32 weights, float32 products
  kInt8,     // int8 weights with per-output-channel scales, int8 products; the rest float32
};

// The precision of attention's own arithmetic (not its dense layers).
enum class AttentionPrecision {
  kFloat32,  // float32 throughout: what faster-whisper computes for compute_type float32
  kReduced,  // float16 cross-attention caches (half the bytes each decoding step reads), and
             // the encoder's attention products in bfloat16 where the backend offers it
};

struct Linear {
  std::vector<float> weight;  // [out, in], as CTranslate2 stores it; empty when int8 is used
  kernels::Int8Matrix int8;   // the same weights quantised, for WeightType::kInt8
  std::vector<float> bias;    // [out], or empty
  int out = 0;
  int in = 0;

  [[nodiscard]] kernels::MatrixView view() const { return {weight.data(), out, in, in}; }
};

struct LayerNorm {
  std::vector<float> gamma;
  std::vector<float> beta;
};

struct SelfAttention {
  LayerNorm norm;
  Linear query_key_value;  // the three projections fused: [3 * n_state, n_state]
  Linear output;
};

struct CrossAttention {
  LayerNorm norm;
  Linear query;
  Linear key_value;  // fused: [2 * n_state, n_state], applied once to the encoder output
  Linear output;
};

struct FeedForward {
  LayerNorm norm;
  Linear up;
  Linear down;
};

struct EncoderLayer {
  SelfAttention attention;
  FeedForward feed_forward;
};

struct DecoderLayer {
  SelfAttention self_attention;
  CrossAttention cross_attention;
  FeedForward feed_forward;
};

struct WhisperWeights {
  int n_mels = 0;
  int n_audio_ctx = 0;  // encoder positions: 1500 for 30 s
  int n_state = 0;
  int n_audio_heads = 0;
  int n_text_heads = 0;
  int n_vocab = 0;
  int n_text_ctx = 0;  // decoder positions: 448

  Linear
      conv1;  // weight [n_state, n_mels * 3]: a kernel-3 convolution as a dense layer over im2col
  Linear conv2;                          // weight [n_state, n_state * 3]
  std::vector<float> encoder_positions;  // [n_audio_ctx, n_state]
  std::vector<EncoderLayer> encoder_layers;
  LayerNorm encoder_norm;

  WeightType weight_type = WeightType::kFloat32;

  std::vector<float> token_embedding;        // [n_vocab, n_state], tied to the output projection
  kernels::Int8Matrix token_embedding_int8;  // instead of token_embedding for WeightType::kInt8
  std::vector<float> decoder_positions;      // [n_text_ctx, n_state]
  std::vector<DecoderLayer> decoder_layers;
  LayerNorm decoder_norm;

  WhisperConfig config;
};

// Calls visit(layer) for every dense layer: the two convolutions, then each encoder layer's and
// each decoder layer's projections (the tied output projection, token_embedding, is not one).
void for_each_linear(const WhisperWeights& weights,
                     const std::function<void(const Linear&)>& visit);

// Calls visit(data, bytes) for every buffer of `weights` that is not empty: each float32 and
// int8 matrix, scale, bias, norm, embedding and position table (what a device backend may keep a
// copy of for the model's life: kernels::Backend::make_resident).
void for_each_buffer(const WhisperWeights& weights,
                     const std::function<void(const void*, std::size_t)>& visit);

// Reads the weights of a model in any format (model_source.h) into memory. Throws
// amanuensis::Error naming the file and the problem for a missing, truncated or corrupt file,
// or a model that is not Whisper. Dense layers (not the convolutions) and the token embedding
// are quantised per output channel for WeightType::kInt8, or taken as stored when the model
// already holds CTranslate2's int8.
WhisperWeights load_whisper_weights(const ModelSource& source,
                                    WeightType weight_type = WeightType::kFloat32);
// The same for the model at `path`.
WhisperWeights load_whisper_weights(const std::filesystem::path& path,
                                    WeightType weight_type = WeightType::kFloat32);

// The weight type a CTranslate2 compute type means on a CPU ("default" keeps the stored type:
// int8 for an int8 or block-quantized model, else float32; float16 and bfloat16 are computed in
// float32). Throws amanuensis::Error for an unknown name.
WeightType weight_type_for(std::string_view compute_type, const ModelSource& source);

// The attention precision of a compute type: kFloat32 for float32 and int8_float32 (which name
// float32 for everything but the int8 products) and for "default" with float weights; kReduced
// for int8, int8_float16, int8_bfloat16, float16 and bfloat16, and "default" with int8 weights.
AttentionPrecision attention_precision_for(std::string_view compute_type, WeightType weights);

}  // namespace amanuensis::model
