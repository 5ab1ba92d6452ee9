#include "model/ggml_layout.h"

#include <array>
#include <utility>

namespace amanuensis::model {

namespace {

constexpr std::array<std::pair<GgmlType, std::int32_t>, 7> kFtypes = {{
    {GgmlType::kF32, 0},
    {GgmlType::kF16, 1},
    {GgmlType::kQ4_0, 2},
    {GgmlType::kQ4_1, 3},
    {GgmlType::kQ8_0, 7},
    {GgmlType::kQ5_0, 8},
    {GgmlType::kQ5_1, 9},
}};

// Appends the specs of one tensor group while walking a model's layers.
class SpecList {
 public:
  SpecList(std::vector<GgmlTensorSpec>& specs, std::int64_t d) : specs_(specs), d_(d) {}

  void add(std::string name, std::vector<std::int64_t> shape, std::string ct2, int part = 0,
           int parts = 1) {
    specs_.push_back({std::move(name), std::move(shape), std::move(ct2), part, parts});
  }
  void norm(const std::string& name, const std::string& ct2) {
    add(name + ".weight", {d_}, ct2 + "/gamma");
    add(name + ".bias", {d_}, ct2 + "/beta");
  }
  // query, key and value fused in CTranslate2's linear_0 (self attention).
  void self_attention(const std::string& name, const std::string& ct2) {
    const auto qkv = ct2 + "/linear_0";
    add(name + ".query.weight", {d_, d_}, qkv + "/weight", 0, 3);
    add(name + ".query.bias", {d_}, qkv + "/bias", 0, 3);
    add(name + ".key.weight", {d_, d_}, qkv + "/weight", 1, 3);
    add(name + ".value.weight", {d_, d_}, qkv + "/weight", 2, 3);
    add(name + ".value.bias", {d_}, qkv + "/bias", 2, 3);
    linear(name + ".out", ct2 + "/linear_1", d_, d_);
  }
  // query alone in linear_0, key and value fused in linear_1, out in linear_2.
  void cross_attention(const std::string& name, const std::string& ct2) {
    linear(name + ".query", ct2 + "/linear_0", d_, d_);
    add(name + ".key.weight", {d_, d_}, ct2 + "/linear_1/weight", 0, 2);
    add(name + ".value.weight", {d_, d_}, ct2 + "/linear_1/weight", 1, 2);
    add(name + ".value.bias", {d_}, ct2 + "/linear_1/bias", 1, 2);
    linear(name + ".out", ct2 + "/linear_2", d_, d_);
  }
  void feed_forward(const std::string& name, const std::string& ct2) {
    norm(name + ".mlp_ln", ct2 + "/layer_norm");
    linear(name + ".mlp.0", ct2 + "/linear_0", 4 * d_, d_);
    linear(name + ".mlp.2", ct2 + "/linear_1", d_, 4 * d_);
  }
  void linear(const std::string& name, const std::string& ct2, std::int64_t out, std::int64_t in) {
    add(name + ".weight", {out, in}, ct2 + "/weight");
    add(name + ".bias", {out}, ct2 + "/bias");
  }

 private:
  std::vector<GgmlTensorSpec>& specs_;
  std::int64_t d_;
};

}  // namespace

GgmlHparams hparams_for(const WhisperDims& dims, std::int32_t ftype) {
  return {dims.n_vocab,        dims.n_audio_ctx, dims.n_state, dims.n_audio_heads,
          dims.n_audio_layers, dims.n_text_ctx,  dims.n_state, dims.n_text_heads,
          dims.n_text_layers,  dims.n_mels,      ftype};
}

WhisperDims dims_for(const GgmlHparams& hparams) {
  WhisperDims dims;
  dims.n_mels = hparams.n_mels;
  dims.n_state = hparams.n_audio_state;
  dims.n_vocab = hparams.n_vocab;
  dims.n_audio_ctx = hparams.n_audio_ctx;
  dims.n_text_ctx = hparams.n_text_ctx;
  dims.n_audio_heads = hparams.n_audio_head;
  dims.n_text_heads = hparams.n_text_head;
  dims.n_audio_layers = hparams.n_audio_layer;
  dims.n_text_layers = hparams.n_text_layer;
  dims.n_hidden = 4 * hparams.n_audio_state;
  return dims;
}

std::int32_t ggml_ftype_for(GgmlType type) {
  for (const auto& [t, ftype] : kFtypes) {
    if (t == type) return ftype;
  }
  return -1;
}

std::string stored_type_for_ftype(std::int32_t ftype) {
  if (ftype == 0) return "float32";
  if (ftype == 1) return "float16";
  if (ftype == 4) return "q4_1";  // GGML_FTYPE_MOSTLY_Q4_1_SOME_F16
  for (const auto& [type, value] : kFtypes) {
    if (value == ftype) return std::string(ggml_type_name(type));
  }
  return {};
}

std::vector<GgmlTensorSpec> ggml_tensor_specs(const WhisperDims& dims) {
  const std::int64_t d = dims.n_state;
  std::vector<GgmlTensorSpec> specs;
  SpecList list(specs, d);
  list.add("encoder.positional_embedding", {dims.n_audio_ctx, d},
           "encoder/position_encodings/encodings");
  list.add("encoder.conv1.weight", {d, dims.n_mels, 3}, "encoder/conv1/weight");
  list.add("encoder.conv1.bias", {d, 1}, "encoder/conv1/bias");
  list.add("encoder.conv2.weight", {d, d, 3}, "encoder/conv2/weight");
  list.add("encoder.conv2.bias", {d, 1}, "encoder/conv2/bias");
  for (int i = 0; i < dims.n_audio_layers; ++i) {
    const auto name = "encoder.blocks." + std::to_string(i);
    const auto ct2 = "encoder/layer_" + std::to_string(i);
    list.norm(name + ".attn_ln", ct2 + "/self_attention/layer_norm");
    list.self_attention(name + ".attn", ct2 + "/self_attention");
    list.feed_forward(name, ct2 + "/ffn");
  }
  list.norm("encoder.ln_post", "encoder/layer_norm");
  list.add("decoder.positional_embedding", {dims.n_text_ctx, d},
           "decoder/position_encodings/encodings");
  list.add("decoder.token_embedding.weight", {dims.n_vocab, d}, "decoder/embeddings/weight");
  for (int i = 0; i < dims.n_text_layers; ++i) {
    const auto name = "decoder.blocks." + std::to_string(i);
    const auto ct2 = "decoder/layer_" + std::to_string(i);
    list.norm(name + ".attn_ln", ct2 + "/self_attention/layer_norm");
    list.self_attention(name + ".attn", ct2 + "/self_attention");
    list.norm(name + ".cross_attn_ln", ct2 + "/attention/layer_norm");
    list.cross_attention(name + ".cross_attn", ct2 + "/attention");
    list.feed_forward(name, ct2 + "/ffn");
  }
  list.norm("decoder.ln", "decoder/layer_norm");
  return specs;
}

std::vector<std::int64_t> ct2_shape_of(const GgmlTensorSpec& spec) {
  auto shape = spec.shape;
  if (spec.ct2_name.ends_with("/bias")) {
    std::int64_t count = 1;
    for (const auto dim : shape) count *= dim;
    shape = {count};  // the convolution biases are [d, 1] in the file
  }
  shape[0] *= spec.parts;
  return shape;
}

GgmlType stored_tensor_type(const GgmlTensorSpec& spec, GgmlType weights) {
  if (weights == GgmlType::kF32) return GgmlType::kF32;
  const bool always_f32 = spec.name == "encoder.conv1.bias" || spec.name == "encoder.conv2.bias" ||
                          spec.name.ends_with("positional_embedding");
  if (spec.shape.size() < 2 || always_f32) return GgmlType::kF32;
  if (spec.shape.size() > 2) return GgmlType::kF16;
  if (is_block_quantized(weights) && spec.shape.back() % kGgmlBlockSize != 0) {
    return GgmlType::kF16;
  }
  return weights;
}

}  // namespace amanuensis::model
