#include "model/tensor_values.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

namespace {

// All 65536 halves, widened once: a table look-up per element at load time.
const std::vector<float>& half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(1U << 16U);
    for (std::uint32_t h = 0; h < t.size(); ++h) {
      t[h] = half_to_float(static_cast<std::uint16_t>(h));
    }
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

std::vector<float> int8_to_float(const ModelSource& source, const Variable& variable) {
  const auto* scale_variable = source.find(variable.name + "_scale");
  if (scale_variable == nullptr || variable.shape.size() != 2 ||
      scale_variable->element_count() != variable.shape[0]) {
    throw Error(source.path().string() + ": int8 tensor " + variable.name +
                " has no matching per-row scale");
  }
  const auto scales = to_float(source, *scale_variable);
  const auto n = static_cast<std::size_t>(variable.element_count());
  const auto cols = static_cast<std::size_t>(variable.shape[1]);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] =
        static_cast<float>(load_element<std::int8_t>(variable.data.data() + i)) / scales[i / cols];
  }
  return out;
}

int count_layers(const ModelSource& source, const std::string& stack) {
  int n = 0;
  while (source.find_shape(stack + "/layer_" + std::to_string(n) + "/ffn/linear_0/weight") !=
         nullptr) {
    ++n;
  }
  return n;
}

}  // namespace

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

std::uint16_t float_to_half(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16U) & 0x8000U);
  const std::uint32_t magnitude = bits & 0x7FFFFFFFU;
  if (magnitude >= 0x7F800000U) {  // inf or NaN
    return static_cast<std::uint16_t>(sign | 0x7C00U | (magnitude > 0x7F800000U ? 0x200U : 0U));
  }
  if (magnitude >= 0x477FF000U) return static_cast<std::uint16_t>(sign | 0x7C00U);  // overflow
  if (magnitude < 0x38800000U) {
    // Subnormal or zero: scale into the subnormal range, rounding to nearest even.
    const float scaled = std::bit_cast<float>(magnitude) * 16777216.0F;  // 2^24
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(scaled)));
  }
  const std::uint32_t rounded = magnitude + 0xFFFU + ((magnitude >> 13U) & 1U);
  return static_cast<std::uint16_t>(sign | ((rounded - 0x38000000U) >> 13U));
}

std::uint16_t float_to_bfloat16(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7FFFFFFFU) > 0x7F800000U) return static_cast<std::uint16_t>((bits >> 16U) | 0x40U);
  return static_cast<std::uint16_t>((bits + 0x7FFFU + ((bits >> 16U) & 1U)) >> 16U);
}

std::string shape_text(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (const auto dim : shape) text += (text.size() > 1 ? ", " : "") + std::to_string(dim);
  return text + "]";
}

std::vector<float> to_float(const ModelSource& source, const Variable& variable) {
  const auto n = static_cast<std::size_t>(variable.element_count());
  if (variable.data.size() != n * dtype_size(variable.dtype)) {
    throw Error(source.path().string() + ": tensor " + variable.name +
                " holds the wrong number of bytes for its shape");
  }
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
    case DType::kInt8:
      return int8_to_float(source, variable);
    case DType::kInt16:
    case DType::kInt32:
      throw Error(source.path().string() + ": tensor " + variable.name + " has unsupported type " +
                  std::string(dtype_name(variable.dtype)));
  }
  return out;
}

int scalar_int(const ModelSource& source, std::string_view name) {
  const auto& variable = source.get(name);
  if (variable.data.size() < dtype_size(variable.dtype)) {
    throw Error(source.path().string() + ": tensor " + std::string(name) + " is empty");
  }
  switch (variable.dtype) {
    case DType::kInt8:
      return load_element<std::int8_t>(variable.data.data());
    case DType::kInt16:
      return load_element<std::int16_t>(variable.data.data());
    case DType::kInt32:
      return load_element<std::int32_t>(variable.data.data());
    default:
      throw Error(source.path().string() + ": tensor " + std::string(name) + " is not an integer");
  }
}

WhisperDims whisper_dims(const ModelSource& source) {
  const auto& conv1 = source.shape("encoder/conv1/weight");
  const auto& embedding = source.shape("decoder/embeddings/weight");
  const auto& encoder_positions = source.shape("encoder/position_encodings/encodings");
  const auto& decoder_positions = source.shape("decoder/position_encodings/encodings");
  const auto& up = source.shape("encoder/layer_0/ffn/linear_0/weight");
  if (conv1.size() != 3 || conv1[2] != 3 || embedding.size() != 2 ||
      encoder_positions.size() != 2 || decoder_positions.size() != 2 || up.size() != 2) {
    throw Error(source.path().string() +
                ": the encoder or decoder weights do not have Whisper's shapes");
  }
  WhisperDims dims;
  dims.n_state = static_cast<int>(conv1[0]);
  dims.n_mels = static_cast<int>(conv1[1]);
  dims.n_vocab = static_cast<int>(embedding[0]);
  dims.n_audio_ctx = static_cast<int>(encoder_positions[0]);
  dims.n_text_ctx = static_cast<int>(decoder_positions[0]);
  dims.n_hidden = static_cast<int>(up[0]);
  dims.n_audio_heads = scalar_int(source, "encoder/num_heads");
  dims.n_text_heads = scalar_int(source, "decoder/num_heads");
  dims.n_audio_layers = count_layers(source, "encoder");
  dims.n_text_layers = count_layers(source, "decoder");
  const int d = dims.n_state;
  if (dims.n_audio_heads <= 0 || dims.n_text_heads <= 0 || d % dims.n_audio_heads != 0 ||
      d % dims.n_text_heads != 0) {
    throw Error(source.path().string() + ": head counts do not divide the model width");
  }
  if (dims.n_audio_layers == 0 || dims.n_text_layers == 0) {
    throw Error(source.path().string() + ": the model has no encoder or decoder layers");
  }
  return dims;
}

std::vector<std::string> whisper_tensor_names(const WhisperDims& dims) {
  std::vector<std::string> names = {"encoder/conv1/weight", "encoder/conv1/bias",
                                    "encoder/conv2/weight", "encoder/conv2/bias",
                                    "encoder/position_encodings/encodings"};
  const auto add_linear = [&](const std::string& prefix) {
    names.push_back(prefix + "/weight");
    names.push_back(prefix + "/bias");
  };
  const auto add_norm = [&](const std::string& prefix) {
    names.push_back(prefix + "/gamma");
    names.push_back(prefix + "/beta");
  };
  const auto add_block = [&](const std::string& prefix) {
    add_norm(prefix + "/layer_norm");
    add_linear(prefix + "/linear_0");
    add_linear(prefix + "/linear_1");
  };
  for (int i = 0; i < dims.n_audio_layers; ++i) {
    const auto prefix = "encoder/layer_" + std::to_string(i);
    add_block(prefix + "/self_attention");
    add_block(prefix + "/ffn");
  }
  add_norm("encoder/layer_norm");
  names.emplace_back("decoder/embeddings/weight");
  names.emplace_back("decoder/position_encodings/encodings");
  for (int i = 0; i < dims.n_text_layers; ++i) {
    const auto prefix = "decoder/layer_" + std::to_string(i);
    add_block(prefix + "/self_attention");
    add_block(prefix + "/attention");
    add_linear(prefix + "/attention/linear_2");
    add_block(prefix + "/ffn");
  }
  add_norm("decoder/layer_norm");
  return names;
}

}  // namespace amanuensis::model
