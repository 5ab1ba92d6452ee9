#include "model/whisper_weights.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

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
    case DType::kFloat16:
      for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(load_element<std::uint16_t>(p + 2 * i));
      break;
    case DType::kBFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load_element<std::uint16_t>(p + 2 * i)) << 16U);
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
  explicit WeightReader(const Ct2ModelFile& file) : file_(file) {}

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
    layer.weight = tensor(prefix + "/weight", {out, in});
    if (with_bias) layer.bias = tensor(prefix + "/bias", {out});
    return layer;
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
};

SelfAttention read_self_attention(WeightReader& reader, const std::string& prefix, int d) {
  return {reader.layer_norm(prefix + "/layer_norm", d), reader.linear(prefix + "/linear_0", 3 * d, d),
          reader.linear(prefix + "/linear_1", d, d)};
}

FeedForward read_feed_forward(WeightReader& reader, const std::string& prefix, int d, int hidden) {
  return {reader.layer_norm(prefix + "/layer_norm", d), reader.linear(prefix + "/linear_0", hidden, d),
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

WhisperWeights load_whisper_weights(const std::filesystem::path& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw Error(model_dir.string() + ": model folder not found");
  }
  const auto file = Ct2ModelFile::open(model_dir / "model.bin");
  if (file.spec_name() != "WhisperSpec") {
    throw Error(file.path().string() + ": not a Whisper model (the file holds a " + file.spec_name() +
                ")");
  }
  WeightReader reader(file);
  WhisperWeights w;

  const auto conv1_shape = reader.shape("encoder/conv1/weight");
  const auto embedding_shape = reader.shape("decoder/embeddings/weight");
  const auto encoder_positions = reader.shape("encoder/position_encodings/encodings");
  const auto decoder_positions = reader.shape("decoder/position_encodings/encodings");
  if (conv1_shape.size() != 3 || conv1_shape[2] != 3 || embedding_shape.size() != 2 ||
      encoder_positions.size() != 2 || decoder_positions.size() != 2) {
    throw Error(file.path().string() + ": the encoder or decoder weights do not have Whisper's shapes");
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
  w.conv1 = {reader.tensor("encoder/conv1/weight", {d, w.n_mels, 3}),
             reader.tensor("encoder/conv1/bias", {d}), d, w.n_mels * 3};
  w.conv2 = {reader.tensor("encoder/conv2/weight", {d, d, 3}), reader.tensor("encoder/conv2/bias", {d}),
             d, d * 3};
  w.encoder_positions = reader.tensor("encoder/position_encodings/encodings", {w.n_audio_ctx, d});
  const int n_encoder_layers = count_layers(file, "encoder");
  for (int i = 0; i < n_encoder_layers; ++i) {
    const auto prefix = "encoder/layer_" + std::to_string(i);
    w.encoder_layers.push_back({read_self_attention(reader, prefix + "/self_attention", d),
                                read_feed_forward(reader, prefix + "/ffn", d, hidden)});
  }
  w.encoder_norm = reader.layer_norm("encoder/layer_norm", d);

  w.token_embedding = reader.tensor("decoder/embeddings/weight", {w.n_vocab, d});
  w.decoder_positions = reader.tensor("decoder/position_encodings/encodings", {w.n_text_ctx, d});
  const int n_decoder_layers = count_layers(file, "decoder");
  for (int i = 0; i < n_decoder_layers; ++i) {
    const auto prefix = "decoder/layer_" + std::to_string(i);
    w.decoder_layers.push_back(
        {read_self_attention(reader, prefix + "/self_attention", d),
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
