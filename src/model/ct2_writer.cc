// CTranslate2's model.bin (binary version 6, as ct2_model_file.h reads it) with config.json,
// vocabulary.json and tokenizer.json: a folder faster-whisper loads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/model_writers.h"
#include "model/model_writing.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

namespace {

struct Scalar {
  const char* name;
  DType dtype;
  int value;
};

// The decoder's settings CTranslate2's WhisperSpec stores as scalars (GELU, pre-norm, no ALiBi,
// alignment from config.json), and the head counts.
std::vector<Scalar> spec_scalars(const WhisperDims& dims) {
  return {{"decoder/activation", DType::kInt8, 3},
          {"decoder/alibi", DType::kInt8, 0},
          {"decoder/alibi_use_positive_positions", DType::kInt8, 0},
          {"decoder/alignment_heads", DType::kInt16, 1},
          {"decoder/alignment_layer", DType::kInt16, -1},
          {"decoder/num_heads", DType::kInt16, dims.n_text_heads},
          {"decoder/pre_norm", DType::kInt8, 1},
          {"decoder/scale_alibi", DType::kInt8, 0},
          {"decoder/scale_embeddings", DType::kInt8, 0},
          {"decoder/start_from_zero_embedding", DType::kInt8, 0},
          {"encoder/num_heads", DType::kInt16, dims.n_audio_heads}};
}

bool quantized_in_int8(const std::string& name, const Variable& variable) {
  return variable.shape.size() == 2 && name.ends_with("/weight");
}

class ModelBinWriter {
 public:
  explicit ModelBinWriter(const std::filesystem::path& path) : file_(path) {}

  void string(std::string_view text) {
    file_.value(static_cast<std::uint16_t>(text.size() + 1));
    file_.bytes(text.data(), text.size());
    file_.value('\0');
  }

  void header(std::uint32_t n_variables) {
    file_.value(std::uint32_t{6});
    string("WhisperSpec");
    file_.value(std::uint32_t{3});
    file_.value(n_variables);
  }

  void variable(std::string_view name, const std::vector<std::int64_t>& shape, DType dtype,
                const void* data, std::size_t size) {
    string(name);
    file_.value(static_cast<std::uint8_t>(shape.size()));
    for (const auto dim : shape) file_.value(static_cast<std::uint32_t>(dim));
    file_.value(static_cast<std::uint8_t>(dtype));
    file_.value(static_cast<std::uint32_t>(size));
    file_.bytes(data, size);
  }

  void aliases() {
    file_.value(std::uint32_t{1});
    string("decoder/projection/weight");
    string("decoder/embeddings/weight");
    file_.close();
  }

 private:
  BinaryFile file_;
};

void write_int8(ModelBinWriter& out, const std::string& name,
                const std::vector<std::int64_t>& shape, const std::vector<float>& values) {
  const auto rows = static_cast<std::size_t>(shape[0]);
  const auto cols = static_cast<std::size_t>(shape[1]);
  std::vector<std::int8_t> q(values.size());
  std::vector<float> scales(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    float amax = 0.0F;
    for (std::size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(values[r * cols + c]));
    // CTranslate2's convention: value = q / scale.
    const float scale = amax > 0.0F ? 127.0F / amax : 1.0F;
    scales[r] = scale;
    for (std::size_t c = 0; c < cols; ++c) {
      q[r * cols + c] = static_cast<std::int8_t>(std::lround(values[r * cols + c] * scale));
    }
  }
  out.variable(name, shape, DType::kInt8, q.data(), q.size());
  out.variable(name + "_scale", {shape[0]}, DType::kFloat32, scales.data(),
               scales.size() * sizeof(float));
}

void write_float(ModelBinWriter& out, const std::string& name,
                 const std::vector<std::int64_t>& shape, const std::vector<float>& values,
                 DType dtype) {
  if (dtype == DType::kFloat32) {
    out.variable(name, shape, dtype, values.data(), values.size() * sizeof(float));
    return;
  }
  std::vector<std::uint16_t> narrow(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    narrow[i] = dtype == DType::kFloat16 ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
  }
  out.variable(name, shape, dtype, narrow.data(), narrow.size() * 2);
}

void write_model_bin(const ModelSource& source, const std::filesystem::path& path,
                     std::string_view type) {
  const auto dims = whisper_dims(source);
  const auto names = whisper_tensor_names(dims);
  const auto scalars = spec_scalars(dims);
  const bool int8 = type == "int8";
  const DType dtype = type == "float32"    ? DType::kFloat32
                      : type == "bfloat16" ? DType::kBFloat16
                      : type == "float16"  ? DType::kFloat16
                                           : DType::kFloat32;
  std::size_t n_variables = names.size() + scalars.size();
  if (int8) {
    for (const auto& name : names) n_variables += quantized_in_int8(name, source.get(name)) ? 1 : 0;
  }
  ModelBinWriter out(path);
  out.header(static_cast<std::uint32_t>(n_variables));
  for (const auto& name : names) {
    const auto& variable = source.get(name);
    const auto values = to_float(source, variable);
    if (int8 && quantized_in_int8(name, variable)) {
      write_int8(out, name, variable.shape, values);
    } else {
      write_float(out, name, variable.shape, values, dtype);
    }
  }
  for (const auto& scalar : scalars) {
    const auto value = static_cast<std::int16_t>(scalar.value);
    const auto small = static_cast<std::int8_t>(scalar.value);
    if (scalar.dtype == DType::kInt16) {
      out.variable(scalar.name, {}, scalar.dtype, &value, sizeof value);
    } else {
      out.variable(scalar.name, {}, scalar.dtype, &small, sizeof small);
    }
  }
  out.aliases();
}

std::string ct2_config_json(const WhisperConfig& config) {
  auto heads = nlohmann::json::array();
  for (const auto& [layer, head] : config.alignment_heads) heads.push_back({layer, head});
  const nlohmann::json json = {{"alignment_heads", heads},
                               {"lang_ids", config.lang_ids},
                               {"suppress_ids", config.suppress_ids},
                               {"suppress_ids_begin", config.suppress_ids_begin}};
  return json.dump(2);
}

}  // namespace

void write_ct2_model(const ModelSource& source, const std::filesystem::path& dir,
                     std::string_view type) {
  const auto vocabulary = source.vocabulary();
  const auto config = source.config();
  PendingOutput output(dir);
  output.create_directory();
  write_model_bin(source, output.path() / "model.bin", type);
  write_text_file(output.path() / "config.json", ct2_config_json(config));
  write_text_file(output.path() / "vocabulary.json", nlohmann::json(vocabulary.tokens).dump());
  write_text_file(output.path() / "tokenizer.json", tokenizer_json(vocabulary));
  output.commit();
}

}  // namespace amanuensis::model
