#include "model/whisper_weights.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/ct2_model_file.h"

namespace amanuensis::model {

namespace {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000U) << 16U;
  std::uint32_t exponent = (h >> 10U) & 0x1FU;
  std::uint32_t mantissa = h & 0x3FFU;
  std::uint32_t bits = 0;
  if (exponent == 0x1FU) {
    bits = sign | 0x7F800000U | (mantissa << 13U);  // inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112U) << 23U) | (mantissa << 13U);
  } else if (mantissa != 0) {
    // Subnormal half: renormalise into a float.
    exponent = 113;
    while ((mantissa & 0x400U) == 0) {
      mantissa <<= 1U;
      --exponent;
    }
    bits = sign | (exponent << 23U) | ((mantissa & 0x3FFU) << 13U);
  } else {
    bits = sign;
  }
  return std::bit_cast<float>(bits);
}

// All 65536 halves, widened once: a table look-up per element at load time.
const std::vector<float>& half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(1U << 16U);
    for (std::uint32_t h = 0; h < t.size(); ++h)
      t[h] = half_to_float(static_cast<std::uint16_t>(h));
    return t;
  }();
  return table;
}

template <typename T>
T load_element(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Widens any stored element type to float32. Quantized int8 weights come with a per-row scale
// variable (`<name>_scale`, CTranslate2's convention): value = q / scale.
std::vector<float> to_float(const Ct2ModelFile& file, const Variable& variable) {
  const auto n = static_cast<std::size_t>(variable.element_count());
  std::vector<float> out(n);
  const std::byte* p = variable.data.data();
  switch (variable.dtype) {
    case DType::kFloat32:
      std::memcpy(out.data(), p, n * sizeof(float));
      break;
    case DType::kFloat16: {
      const auto& table = half_table();
      for (std::size_t i = 0; i < n; ++i) out[i] = table[load_element<std::uint16_t>(p + 2 * i)];
      break;
    }
    case DType::kBFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = std::bit_cast<float>(
            static_cast<std::uint32_t>(load_element<std::uint16_t>(p + 2 * i)) << 16U);
      }
      break;
    case DType::kInt8: {
      const auto* scale_variable = file.find(variable.name + "_scale");
      if (scale_variable == nullptr || variable.shape.size() != 2 ||
          scale_variable->element_count() != variable.shape[0]) {
        throw Error(file.path().string() + ": int8 variable " + variable.name +
                    " has no matching per-row scale");
      }
      const auto scales = to_float(file, *scale_variable);
      const auto cols = static_cast<std::size_t>(variable.shape[1]);
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<float>(load_element<std::int8_t>(p + i)) / scales[i / cols];
      }
      break;
    }
    case DType::kInt16:
    case DType::kInt32:
      throw Error(file.path().string() + ": variable " + variable.name + " has unsupported type " +
                  std::string(dtype_name(variable.dtype)));
  }
  return out;
}

class WeightReader {
 public:
  WeightReader(const Ct2ModelFile& file, WeightType weight_type)
      : file_(file), weight_type_(weight_type) {}

  std::vector<float> tensor(const std::string& name, std::initializer_list<std::int64_t> shape) {
    const auto& variable = file_.get(name);
    if (!std::equal(shape.begin(), shape.end(), variable.shape.begin(), variable.shape.end())) {
      throw Error(file_.path().string() + ": variable " + name + " has shape " +
                  shape_text(variable.shape) + ", expected " + shape_text(shape));
    }
    return to_float(file_, variable);
  }

  std::vector<std::int64_t> shape(const std::string& name) { return file_.get(name).shape; }

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
  // CTranslate2's per-row scales), else quantised per row.
  kernels::Int8Matrix int8_matrix(const std::string& name, int rows, int cols) {
    const auto& variable = file_.get(name);
    const auto* scale = file_.find(name + "_scale");
    if (variable.dtype == DType::kInt8 && scale != nullptr && variable.shape.size() == 2 &&
        variable.shape[0] == rows && variable.shape[1] == cols && scale->element_count() == rows) {
      const auto scales = to_float(file_, *scale);
      return kernels::pack_int8(reinterpret_cast<const std::int8_t*>(variable.data.data()),
                                scales.data(), rows, cols);
    }
    const auto values = tensor(name, {rows, cols});
    return kernels::quantize_int8(values.data(), rows, cols, cols);
  }

  LayerNorm layer_norm(const std::string& prefix, int size) {
    return {tensor(prefix + "/gamma", {size}), tensor(prefix + "/beta", {size})};
  }

  int scalar_int(const std::string& name) {
    const auto& variable = file_.get(name);
    switch (variable.dtype) {
      case DType::kInt8:
        return load_element<std::int8_t>(variable.data.data());
      case DType::kInt16:
        return load_element<std::int16_t>(variable.data.data());
      case DType::kInt32:
        return load_element<std::int32_t>(variable.data.data());
      default:
        throw Error(file_.path().string() + ": variable " + name + " is not an integer");
    }
  }

 private:
  template <typename Shape>
  static std::string shape_text(const Shape& shape) {
    std::string text = "[";
    for (const auto dim : shape) text += (text.size() > 1 ? ", " : "") + std::to_string(dim);
    return text + "]";
  }

  const Ct2ModelFile& file_;
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

int count_layers(const Ct2ModelFile& file, const std::string& stack) {
  int n = 0;
  while (file.find(stack + "/layer_" + std::to_string(n) + "/ffn/linear_0/weight") != nullptr) ++n;
  return n;
}

WhisperConfig read_config(const std::filesystem::path& path) {
  std::ifstream stream(path);
  if (!stream) throw Error(path.string() + ": config file not found or not readable");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  WhisperConfig config;
  try {
    config.suppress_ids = json.value("suppress_ids", std::vector<int>{});
    config.suppress_ids_begin = json.value("suppress_ids_begin", std::vector<int>{});
    config.lang_ids = json.value("lang_ids", std::vector<int>{});
    for (const auto& head : json.value("alignment_heads", nlohmann::json::array())) {
      config.alignment_heads.emplace_back(head.at(0).get<int>(), head.at(1).get<int>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": unexpected content: " + e.what());
  }
  return config;
}

}  // namespace

WeightType weight_type_for(std::string_view compute_type, const std::filesystem::path& model_dir) {
  if (compute_type == "float32" || compute_type == "float16" || compute_type == "bfloat16") {
    return WeightType::kFloat32;
  }
  if (compute_type == "int8" || compute_type == "int8_float32" || compute_type == "int8_float16" ||
      compute_type == "int8_bfloat16") {
    return WeightType::kInt8;
  }
  if (compute_type == "default" || compute_type.empty()) {
    // The stored type: an int8 model stays int8.
    const auto path = model_dir / "model.bin";
    if (!std::filesystem::is_regular_file(path)) return WeightType::kFloat32;
    const auto file = Ct2ModelFile::open(path);
    const auto* probe = file.find("encoder/layer_0/ffn/linear_0/weight");
    return probe != nullptr && probe->dtype == DType::kInt8 ? WeightType::kInt8
                                                            : WeightType::kFloat32;
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

WhisperWeights load_whisper_weights(const std::filesystem::path& model_dir,
                                    WeightType weight_type) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw Error(model_dir.string() + ": model folder not found");
  }
  const auto file = Ct2ModelFile::open(model_dir / "model.bin");
  if (file.spec_name() != "WhisperSpec") {
    throw Error(file.path().string() + ": not a Whisper model (the file holds a " +
                file.spec_name() + ")");
  }
  WeightReader reader(file, weight_type);
  WhisperWeights w;
  w.weight_type = weight_type;

  const auto conv1_shape = reader.shape("encoder/conv1/weight");
  const auto embedding_shape = reader.shape("decoder/embeddings/weight");
  const auto encoder_positions = reader.shape("encoder/position_encodings/encodings");
  const auto decoder_positions = reader.shape("decoder/position_encodings/encodings");
  if (conv1_shape.size() != 3 || conv1_shape[2] != 3 || embedding_shape.size() != 2 ||
      encoder_positions.size() != 2 || decoder_positions.size() != 2) {
    throw Error(file.path().string() +
                ": the encoder or decoder weights do not have Whisper's shapes");
  }
  w.n_state = static_cast<int>(conv1_shape[0]);
  w.n_mels = static_cast<int>(conv1_shape[1]);
  w.n_vocab = static_cast<int>(embedding_shape[0]);
  w.n_audio_ctx = static_cast<int>(encoder_positions[0]);
  w.n_text_ctx = static_cast<int>(decoder_positions[0]);
  w.n_audio_heads = reader.scalar_int("encoder/num_heads");
  w.n_text_heads = reader.scalar_int("decoder/num_heads");
  const int d = w.n_state;
  if (w.n_audio_heads <= 0 || w.n_text_heads <= 0 || d % w.n_audio_heads != 0 ||
      d % w.n_text_heads != 0) {
    throw Error(file.path().string() + ": head counts do not divide the model width");
  }
  const int hidden = static_cast<int>(reader.shape("encoder/layer_0/ffn/linear_0/weight").at(0));

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
  const int n_encoder_layers = count_layers(file, "encoder");
  for (int i = 0; i < n_encoder_layers; ++i) {
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
  const int n_decoder_layers = count_layers(file, "decoder");
  for (int i = 0; i < n_decoder_layers; ++i) {
    const auto prefix = "decoder/layer_" + std::to_string(i);
    w.decoder_layers.push_back({read_self_attention(reader, prefix + "/self_attention", d),
                                {reader.layer_norm(prefix + "/attention/layer_norm", d),
                                 reader.linear(prefix + "/attention/linear_0", d, d),
                                 reader.linear(prefix + "/attention/linear_1", 2 * d, d),
                                 reader.linear(prefix + "/attention/linear_2", d, d)},
                                read_feed_forward(reader, prefix + "/ffn", d, hidden)});
  }
  w.decoder_norm = reader.layer_norm("decoder/layer_norm", d);
  if (n_encoder_layers == 0 || n_decoder_layers == 0) {
    throw Error(file.path().string() + ": the model has no encoder or decoder layers");
  }

  w.config = read_config(model_dir / "config.json");
  return w;
}

}  // namespace amanuensis::model
