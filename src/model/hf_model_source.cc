#include "model/hf_model_source.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/safetensors_file.h"
#include "model/tensor_table.h"
#include "model/tensor_values.h"
#include "model/vocabulary_files.h"

namespace amanuensis::model {

namespace {

nlohmann::json read_json(const std::filesystem::path& path, bool required) {
  std::ifstream stream(path);
  if (!stream) {
    if (required) throw Error(path.string() + ": not found (a Hugging Face Whisper folder has it)");
    return nlohmann::json::object();
  }
  try {
    auto json = nlohmann::json::parse(stream);
    if (!json.is_object()) throw Error(path.string() + ": not a JSON object");
    return json;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

// The shard files: model.safetensors, or those model.safetensors.index.json's weight_map names.
std::vector<std::filesystem::path> shard_paths(const std::filesystem::path& dir) {
  const auto single = dir / "model.safetensors";
  if (std::filesystem::exists(single)) return {single};
  const auto index_path = dir / "model.safetensors.index.json";
  const auto index = read_json(index_path, true);
  std::set<std::string> names;
  try {
    for (const auto& [tensor, file] : index.at("weight_map").items()) {
      const auto name = file.get<std::string>();
      if (name.empty() || name.find('/') != std::string::npos || name.starts_with(".")) {
        throw Error(index_path.string() + ": weight_map names a file outside the folder: " + name);
      }
      names.insert(name);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(index_path.string() + ": no usable weight_map: " + e.what());
  }
  std::vector<std::filesystem::path> paths;
  paths.reserve(names.size());
  for (const auto& name : names) paths.push_back(dir / name);
  return paths;
}

int config_int(const nlohmann::json& config, const char* key, const std::filesystem::path& path) {
  const auto found = config.find(key);
  if (found == config.end() || !found->is_number_integer() || found->get<long long>() <= 0 ||
      found->get<long long>() > 1'000'000) {
    throw Error(path.string() + ": " + key + " is missing or not a positive integer");
  }
  return found->get<int>();
}

class HfModelSource final : public ModelSource {
 public:
  explicit HfModelSource(std::filesystem::path dir);

  [[nodiscard]] std::string_view format() const override { return "hf"; }
  [[nodiscard]] const std::filesystem::path& path() const override { return dir_; }
  [[nodiscard]] const Variable* find(std::string_view name) const override {
    return tensors_.find(name);
  }
  [[nodiscard]] std::vector<std::string> names() const override { return tensors_.names(); }
  [[nodiscard]] std::string stored_type() const override {
    return std::string(dtype_name(get("encoder/layer_0/ffn/linear_0/weight").dtype));
  }
  [[nodiscard]] WhisperConfig config() const override;
  [[nodiscard]] Vocabulary vocabulary() const override;

 private:
  // A tensor of the checkpoint by its name without the "model." prefix; an error when absent.
  [[nodiscard]] const Variable& checkpoint(const std::string& name) const;
  [[nodiscard]] const Variable* optional_checkpoint(const std::string& name) const;
  void add(const std::string& ct2_name, const std::string& hf_name);
  // Rows of `parts` stacked (a part may be null: that many zero rows, `zero_rows` of them).
  void add_fused(const std::string& ct2_name, const std::vector<const Variable*>& parts,
                 std::int64_t zero_rows = 0, std::size_t zero_at = 0);
  void add_attention(const std::string& ct2, const std::string& hf, bool self_attention);
  void add_layer_norm(const std::string& ct2, const std::string& hf);
  void add_linear(const std::string& ct2, const std::string& hf);

  std::filesystem::path dir_;
  nlohmann::json config_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, const Variable*, std::less<>> checkpoint_;
  TensorTable tensors_;
};

HfModelSource::HfModelSource(std::filesystem::path dir) : dir_(std::move(dir)) {
  const auto config_path = dir_ / "config.json";
  config_ = read_json(config_path, true);
  if (config_.value("model_type", std::string("whisper")) != "whisper") {
    throw Error(config_path.string() + ": not a Whisper model (model_type " +
                config_.value("model_type", std::string()) + ")");
  }
  for (const auto& path : shard_paths(dir_)) shards_.push_back(SafetensorsFile::open(path));
  for (const auto& shard : shards_) {
    for (const auto& [name, variable] : shard.tensors()) {
      const std::string key = name.starts_with("model.") ? name.substr(6) : name;
      checkpoint_.emplace(key, &variable);
    }
  }
  const int encoder_layers = config_int(config_, "encoder_layers", config_path);
  const int decoder_layers = config_int(config_, "decoder_layers", config_path);
  tensors_.add_scalar("encoder/num_heads",
                      config_int(config_, "encoder_attention_heads", config_path));
  tensors_.add_scalar("decoder/num_heads",
                      config_int(config_, "decoder_attention_heads", config_path));
  add("encoder/conv1/weight", "encoder.conv1.weight");
  add("encoder/conv1/bias", "encoder.conv1.bias");
  add("encoder/conv2/weight", "encoder.conv2.weight");
  add("encoder/conv2/bias", "encoder.conv2.bias");
  add("encoder/position_encodings/encodings", "encoder.embed_positions.weight");
  for (int i = 0; i < encoder_layers; ++i) {
    const auto ct2 = "encoder/layer_" + std::to_string(i);
    const auto hf = "encoder.layers." + std::to_string(i);
    add_attention(ct2 + "/self_attention", hf + ".self_attn", true);
    add_layer_norm(ct2 + "/self_attention/layer_norm", hf + ".self_attn_layer_norm");
    add_layer_norm(ct2 + "/ffn/layer_norm", hf + ".final_layer_norm");
    add_linear(ct2 + "/ffn/linear_0", hf + ".fc1");
    add_linear(ct2 + "/ffn/linear_1", hf + ".fc2");
  }
  add_layer_norm("encoder/layer_norm", "encoder.layer_norm");
  add("decoder/embeddings/weight", "decoder.embed_tokens.weight");
  add("decoder/position_encodings/encodings", "decoder.embed_positions.weight");
  for (int i = 0; i < decoder_layers; ++i) {
    const auto ct2 = "decoder/layer_" + std::to_string(i);
    const auto hf = "decoder.layers." + std::to_string(i);
    add_attention(ct2 + "/self_attention", hf + ".self_attn", true);
    add_layer_norm(ct2 + "/self_attention/layer_norm", hf + ".self_attn_layer_norm");
    add_attention(ct2 + "/attention", hf + ".encoder_attn", false);
    add_layer_norm(ct2 + "/attention/layer_norm", hf + ".encoder_attn_layer_norm");
    add_layer_norm(ct2 + "/ffn/layer_norm", hf + ".final_layer_norm");
    add_linear(ct2 + "/ffn/linear_0", hf + ".fc1");
    add_linear(ct2 + "/ffn/linear_1", hf + ".fc2");
  }
  add_layer_norm("decoder/layer_norm", "decoder.layer_norm");
}

const Variable* HfModelSource::optional_checkpoint(const std::string& name) const {
  const auto found = checkpoint_.find(name);
  return found == checkpoint_.end() ? nullptr : found->second;
}

const Variable& HfModelSource::checkpoint(const std::string& name) const {
  const auto* variable = optional_checkpoint(name);
  if (variable == nullptr) {
    throw Error(dir_.string() + ": the checkpoint has no tensor " + name +
                " (model.safetensors is incomplete or not Whisper)");
  }
  return *variable;
}

void HfModelSource::add(const std::string& ct2_name, const std::string& hf_name) {
  Variable variable = checkpoint(hf_name);
  variable.name = ct2_name;
  tensors_.add(std::move(variable));
}

void HfModelSource::add_layer_norm(const std::string& ct2, const std::string& hf) {
  add(ct2 + "/gamma", hf + ".weight");
  add(ct2 + "/beta", hf + ".bias");
}

void HfModelSource::add_linear(const std::string& ct2, const std::string& hf) {
  add(ct2 + "/weight", hf + ".weight");
  add(ct2 + "/bias", hf + ".bias");
}

void HfModelSource::add_attention(const std::string& ct2, const std::string& hf,
                                  bool self_attention) {
  const auto& q = checkpoint(hf + ".q_proj.weight");
  const auto& k = checkpoint(hf + ".k_proj.weight");
  const auto& v = checkpoint(hf + ".v_proj.weight");
  const auto* k_bias = optional_checkpoint(hf + ".k_proj.bias");  // Whisper has none: zeros
  const std::int64_t rows = k.shape.empty() ? 0 : k.shape[0];
  if (self_attention) {
    add_fused(ct2 + "/linear_0/weight", {&q, &k, &v});
    add_fused(ct2 + "/linear_0/bias",
              {&checkpoint(hf + ".q_proj.bias"), k_bias, &checkpoint(hf + ".v_proj.bias")}, rows,
              1);
    add_linear(ct2 + "/linear_1", hf + ".out_proj");
  } else {
    add_linear(ct2 + "/linear_0", hf + ".q_proj");
    add_fused(ct2 + "/linear_1/weight", {&k, &v});
    add_fused(ct2 + "/linear_1/bias", {k_bias, &checkpoint(hf + ".v_proj.bias")}, rows, 0);
    add_linear(ct2 + "/linear_2", hf + ".out_proj");
  }
}

void HfModelSource::add_fused(const std::string& ct2_name,
                              const std::vector<const Variable*>& parts, std::int64_t zero_rows,
                              std::size_t zero_at) {
  const Variable* first = nullptr;
  for (const auto* part : parts) first = first != nullptr ? first : part;
  Variable fused;
  fused.name = ct2_name;
  fused.dtype = first->dtype;
  fused.shape = first->shape;
  fused.shape[0] = 0;
  const auto row_bytes = first->shape[0] > 0 ? first->data.size() / first->shape[0] : 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto* part = parts[i];
    if (part == nullptr) {
      fused.shape[0] += i == zero_at ? zero_rows : 0;
      continue;
    }
    if (part->dtype != first->dtype || part->shape.size() != first->shape.size() ||
        !std::equal(part->shape.begin() + 1, part->shape.end(), first->shape.begin() + 1)) {
      throw Error(dir_.string() + ": the attention projections fused into " + ct2_name +
                  " differ in type or width");
    }
    fused.shape[0] += part->shape[0];
  }
  auto& bytes = tensors_.new_buffer();
  bytes.reserve(static_cast<std::size_t>(fused.shape[0]) * row_bytes);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] != nullptr) {
      bytes.insert(bytes.end(), parts[i]->data.begin(), parts[i]->data.end());
    } else if (i == zero_at) {
      bytes.resize(bytes.size() + static_cast<std::size_t>(zero_rows) * row_bytes);
    }
  }
  fused.data = bytes;
  tensors_.add(std::move(fused));
}

}  // namespace

namespace {

std::vector<int> int_list(const nlohmann::json& json, const char* key) {
  const auto found = json.find(key);
  if (found == json.end() || found->is_null()) return {};
  return found->get<std::vector<int>>();
}

}  // namespace

WhisperConfig HfModelSource::config() const {
  // generation_config.json holds what decoding needs; older folders keep it in config.json.
  const auto generation = read_json(dir_ / "generation_config.json", false);
  const auto& from = generation.contains("suppress_tokens") ? generation : config_;
  WhisperConfig config;
  try {
    config.suppress_ids = int_list(from, "suppress_tokens");
    config.suppress_ids_begin = int_list(from, "begin_suppress_tokens");
    const auto heads = generation.value("alignment_heads", nlohmann::json::array());
    for (const auto& head : heads) {
      config.alignment_heads.emplace_back(head.at(0).get<int>(), head.at(1).get<int>());
    }
    const auto languages = generation.value("lang_to_id", nlohmann::json::object());
    for (const auto& [token, id] : languages.items()) {
      config.lang_ids.push_back(id.get<int>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir_ / "generation_config.json").string() + ": unexpected content: " + e.what());
  }
  std::sort(config.lang_ids.begin(), config.lang_ids.end());
  if (config.alignment_heads.empty()) {
    config.alignment_heads =
        default_alignment_heads(config_int(config_, "decoder_layers", dir_ / "config.json"),
                                scalar_int(*this, "decoder/num_heads"));
  }
  if (config.lang_ids.empty()) {
    // The language tokens lie between <|startoftranscript|> and <|translate|>.
    const auto tokens = vocabulary().tokens;
    const auto sot = std::find(tokens.begin(), tokens.end(), "<|startoftranscript|>");
    const auto translate = std::find(tokens.begin(), tokens.end(), "<|translate|>");
    for (auto it = sot + (sot != tokens.end() ? 1 : 0); it < translate; ++it) {
      config.lang_ids.push_back(static_cast<int>(it - tokens.begin()));
    }
  }
  return config;
}

Vocabulary HfModelSource::vocabulary() const {
  auto vocabulary = read_tokenizer_json(dir_ / "tokenizer.json");
  const auto size =
      static_cast<std::size_t>(config_int(config_, "vocab_size", dir_ / "config.json"));
  if (vocabulary.tokens.size() > size) vocabulary.tokens.resize(size);
  complete_with_timestamps(vocabulary.tokens, size);
  return vocabulary;
}

std::unique_ptr<ModelSource> open_hf_model(const std::filesystem::path& model_dir) {
  return std::make_unique<HfModelSource>(model_dir);
}

}  // namespace amanuensis::model
