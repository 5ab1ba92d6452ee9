#include "model/model_source.h"

#include <array>
#include <cstdint>
#include <fstream>

#include "amanuensis/amanuensis.h"
#include "model/ct2_model_source.h"
#include "model/ggml_model_source.h"
#include "model/hf_model_source.h"

namespace amanuensis::model {

namespace {

[[noreturn]] void missing_tensor(const ModelSource& source, std::string_view name) {
  throw Error(source.path().string() + ": the model has no tensor " + std::string(name) + " (" +
              std::string(source.format()) + " format)");
}

}  // namespace

const Variable& ModelSource::get(std::string_view name) const {
  const auto* variable = find(name);
  if (variable == nullptr) missing_tensor(*this, name);
  return *variable;
}

const std::vector<std::int64_t>& ModelSource::shape(std::string_view name) const {
  const auto* shape = find_shape(name);
  if (shape == nullptr) missing_tensor(*this, name);
  return *shape;
}

std::vector<std::pair<int, int>> default_alignment_heads(int decoder_layers, int heads) {
  std::vector<std::pair<int, int>> pairs;
  for (int layer = decoder_layers / 2; layer < decoder_layers; ++layer) {
    for (int head = 0; head < heads; ++head) pairs.emplace_back(layer, head);
  }
  return pairs;
}

std::string detect_model_format(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    if (std::filesystem::exists(path / "model.bin", error)) return "ct2";
    if (std::filesystem::exists(path / "model.safetensors", error) ||
        std::filesystem::exists(path / "model.safetensors.index.json", error)) {
      return "hf";
    }
    return {};
  }
  std::ifstream stream(path, std::ios::binary);
  std::array<unsigned char, 4> magic{};
  if (!stream.read(reinterpret_cast<char*>(magic.data()), magic.size())) return {};
  const std::uint32_t value = magic[0] | (magic[1] << 8U) | (magic[2] << 16U) |
                              (static_cast<std::uint32_t>(magic[3]) << 24U);
  return value == kGgmlMagic ? "ggml" : std::string();
}

std::unique_ptr<ModelSource> open_model_source(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw Error(path.string() + ": model folder or file not found");
  }
  const auto format = detect_model_format(path);
  if (format == "ct2") return open_ct2_model(path);
  if (format == "hf") return open_hf_model(path);
  if (format == "ggml") return open_ggml_model(path);
  if (std::filesystem::is_directory(path, error)) {
    throw Error(path.string() +
                ": not a model folder: it has no model.bin (CTranslate2), model.safetensors or "
                "model.safetensors.index.json (Hugging Face)");
  }
  throw Error(path.string() +
              ": not a model file: it does not start with whisper.cpp's ggml magic");
}

}  // namespace amanuensis::model
