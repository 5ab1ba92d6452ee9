#include "model/whisper_weights.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/model_source.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

namespace {

class WeightReader {
 public:
  WeightReader(const ModelSource& source, WeightType weight_type)
      : source_(source), weight_type_(weight_type) {}

  std::vector<float> tensor(const std::string& name, std::initializer_list<std::int64_t> shape) {
    const auto& variable = source_.get(name);
    if (!std::equal(shape.begin(), shape.end(), variable.shape.begin(), variable.shape.end())) {
      throw Error(source_.path().string() + ": variable " + name + " has shape " +
                  shape_text(variable.shape) + ", expected " +
                  shape_text(std::vector<std::int64_t>(shape)));
    }
    return to_float(source_, variable);
  }

  std::vector<std::int64_t> shape(const std::string& name) { return source_.shape(name); }

  Linear linear(const std::string& prefix, int out, int in, bool with_bias = true) {
    Linear layer;
    layer.out = out;
    layer.in = in;
    if (weight_type_ == WeightType::kInt8) {
      layer.int8 = int8_matrix(prefix + "/weight", out, in);
    } else {
      layer.weight = tensor(prefix + "/weight", {out, in});
    }
    if (with_bias) layer.bias = tensor(prefix + "/bias", {out});
    return layer;
  }

  // The weights [rows, cols] as int8: taken as stored when the file holds int8 (with
  // CTranslate2's per-row scales, or ggml's per-block ones), else quantised per row.
  kernels::Int8Matrix int8_matrix(const std::string& name, int rows, int cols) {
    // Asked for first: a source may widen a tensor only when find() wants its values.
    if (auto blocks = source_.block_int8(name);
        blocks && blocks->levels.size() == static_cast<std::size_t>(rows) * cols) {
      return kernels::pack_int8_blocks(blocks->levels.data(), blocks->scales.data(), rows, cols);
    }
    const auto& variable = source_.get(name);
    const auto* scale = source_.find(name + "_scale");
    if (variable.dtype == DType::kInt8 && scale != nullptr && variable.shape.size() == 2 &&
        variable.shape[0] == rows && variable.shape[1] == cols && scale->element_count() == rows) {
      const auto scales = to_float(source_, *scale);
      return kernels::pack_int8(reinterpret_cast<const std::int8_t*>(variable.data.data()),
                                scales.data(), rows, cols);
    }
    const auto values = tensor(name, {rows, cols});
    return kernels::quantize_int8(values.data(), rows, cols, cols);
  }

  LayerNorm layer_norm(const std::string& prefix, int size) {
    return {tensor(prefix + "/gamma", {size}), tensor(prefix + "/beta", {size})};
  }

 private:
  const ModelSource& source_;
  WeightType weight_type_;
};

SelfAttention read_self_attention(WeightReader& reader, const std::string& prefix, int d) {
  return {reader.layer_norm(prefix + "/layer_norm", d),
          reader.linear(prefix + "/linear_0", 3 * d, d), reader.linear(prefix + "/linear_1", d, d)};
}

FeedForward read_feed_forward(WeightReader& reader, const std::string& prefix, int d, int hidden) {
  return {reader.layer_norm(prefix + "/layer_norm", d),
          reader.linear(prefix + "/linear_0", hidden, d),
          reader.linear(prefix + "/linear_1", d, hidden)};
}

}  // namespace

WeightType weight_type_for(std::string_view compute_type, const ModelSource& source) {
  if (compute_type == "float32" || compute_type == "float16" || compute_type == "bfloat16") {
    return WeightType::kFloat32;
  }
  if (compute_type == "int8" || compute_type == "int8_float32" || compute_type == "int8_float16" ||
      compute_type == "int8_bfloat16") {
    return WeightType::kInt8;
  }
  if (compute_type == "default" || compute_type.empty()) {
    // The stored type: an int8 or quantized model stays int8.
    const auto* probe = source.find("encoder/layer_0/ffn/linear_0/weight");
    const bool quantized =
        (probe != nullptr && probe->dtype == DType::kInt8) || source.stored_type().starts_with("q");
    return quantized ? WeightType::kInt8 : WeightType::kFloat32;
  }
  throw Error(
      "unknown compute type \"" + std::string(compute_type) +
      "\" (expected default, float32, float16, bfloat16, int8, int8_float32, int8_float16 or "
      "int8_bfloat16)");
}

AttentionPrecision attention_precision_for(std::string_view compute_type, WeightType weights) {
  if (compute_type == "float32" || compute_type == "int8_float32") {
    return AttentionPrecision::kFloat32;
  }
  if (compute_type == "default" || compute_type.empty()) {
    return weights == WeightType::kInt8 ? AttentionPrecision::kReduced
                                        : AttentionPrecision::kFloat32;
  }
  return AttentionPrecision::kReduced;
}

WhisperWeights load_whisper_weights(const ModelSource& source, WeightType weight_type) {
  const auto dims = whisper_dims(source);
  WeightReader reader(source, weight_type);
  WhisperWeights w;
  w.weight_type = weight_type;
  w.n_state = dims.n_state;
  w.n_mels = dims.n_mels;
  w.n_vocab = dims.n_vocab;
  w.n_audio_ctx = dims.n_audio_ctx;
  w.n_text_ctx = dims.n_text_ctx;
  w.n_audio_heads = dims.n_audio_heads;
  w.n_text_heads = dims.n_text_heads;
  const int d = w.n_state;
  const int hidden = dims.n_hidden;

  // The convolutions are stored [out, in, kernel]; flattened, each row is already the dense
  // weight over an im2col row laid out as (in, kernel).
  w.conv1 = {.weight = reader.tensor("encoder/conv1/weight", {d, w.n_mels, 3}),
             .int8 = {},
             .bias = reader.tensor("encoder/conv1/bias", {d}),
             .out = d,
             .in = w.n_mels * 3};
  w.conv2 = {.weight = reader.tensor("encoder/conv2/weight", {d, d, 3}),
             .int8 = {},
             .bias = reader.tensor("encoder/conv2/bias", {d}),
             .out = d,
             .in = d * 3};
  w.encoder_positions = reader.tensor("encoder/position_encodings/encodings", {w.n_audio_ctx, d});
  for (int i = 0; i < dims.n_audio_layers; ++i) {
    const auto prefix = "encoder/layer_" + std::to_string(i);
    w.encoder_layers.push_back({read_self_attention(reader, prefix + "/self_attention", d),
                                read_feed_forward(reader, prefix + "/ffn", d, hidden)});
  }
  w.encoder_norm = reader.layer_norm("encoder/layer_norm", d);

  if (weight_type == WeightType::kInt8) {
    w.token_embedding_int8 = reader.int8_matrix("decoder/embeddings/weight", w.n_vocab, d);
  } else {
    w.token_embedding = reader.tensor("decoder/embeddings/weight", {w.n_vocab, d});
  }
  w.decoder_positions = reader.tensor("decoder/position_encodings/encodings", {w.n_text_ctx, d});
  for (int i = 0; i < dims.n_text_layers; ++i) {
    const auto prefix = "decoder/layer_" + std::to_string(i);
    w.decoder_layers.push_back({read_self_attention(reader, prefix + "/self_attention", d),
                                {reader.layer_norm(prefix + "/attention/layer_norm", d),
                                 reader.linear(prefix + "/attention/linear_0", d, d),
                                 reader.linear(prefix + "/attention/linear_1", 2 * d, d),
                                 reader.linear(prefix + "/attention/linear_2", d, d)},
                                read_feed_forward(reader, prefix + "/ffn", d, hidden)});
  }
  w.decoder_norm = reader.layer_norm("decoder/layer_norm", d);
  w.config = source.config();
  return w;
}

namespace {

using Visit = std::function<void(const void*, std::size_t)>;

template <typename T>
void visit_vector(const std::vector<T>& values, const Visit& visit) {
  if (!values.empty()) visit(values.data(), values.size() * sizeof(T));
}

void visit_int8(const kernels::Int8Matrix& m, const Visit& visit) {
  visit_vector(m.packed, visit);
  visit_vector(m.scales, visit);
  visit_vector(m.sums, visit);
  visit_vector(m.block_scales, visit);
  visit_vector(m.block_sums, visit);
}

void visit_linear(const Linear& layer, const Visit& visit) {
  visit_vector(layer.weight, visit);
  visit_int8(layer.int8, visit);
  visit_vector(layer.bias, visit);
}

void visit_norm(const LayerNorm& norm, const Visit& visit) {
  visit_vector(norm.gamma, visit);
  visit_vector(norm.beta, visit);
}

}  // namespace

void for_each_linear(const WhisperWeights& weights,
                     const std::function<void(const Linear&)>& visit) {
  visit(weights.conv1);
  visit(weights.conv2);
  for (const auto& [attention, feed_forward] : weights.encoder_layers) {
    for (const auto* layer :
         {&attention.query_key_value, &attention.output, &feed_forward.up, &feed_forward.down}) {
      visit(*layer);
    }
  }
  for (const auto& [self, cross, feed_forward] : weights.decoder_layers) {
    for (const auto* layer : {&self.query_key_value, &self.output, &cross.query, &cross.key_value,
                              &cross.output, &feed_forward.up, &feed_forward.down}) {
      visit(*layer);
    }
  }
}

void for_each_buffer(const WhisperWeights& weights, const Visit& visit) {
  for_each_linear(weights, [&](const Linear& layer) { visit_linear(layer, visit); });
  for (const auto& [attention, feed_forward] : weights.encoder_layers) {
    visit_norm(attention.norm, visit);
    visit_norm(feed_forward.norm, visit);
  }
  for (const auto& [self, cross, feed_forward] : weights.decoder_layers) {
    for (const auto* norm : {&self.norm, &cross.norm, &feed_forward.norm}) visit_norm(*norm, visit);
  }
  visit_norm(weights.encoder_norm, visit);
  visit_norm(weights.decoder_norm, visit);
  visit_vector(weights.encoder_positions, visit);
  visit_vector(weights.token_embedding, visit);
  visit_int8(weights.token_embedding_int8, visit);
  visit_vector(weights.decoder_positions, visit);
}

WhisperWeights load_whisper_weights(const std::filesystem::path& path, WeightType weight_type) {
  return load_whisper_weights(*open_model_source(path), weight_type);
}

}  // namespace amanuensis::model
