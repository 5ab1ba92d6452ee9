#include "model/ct2_model_source.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "amanuensis/amanuensis.h"
#include "model/vocabulary_files.h"

namespace amanuensis::model {

namespace {

class Ct2ModelSource final : public ModelSource {
 public:
  Ct2ModelSource(std::filesystem::path dir, Ct2ModelFile file)
      : dir_(std::move(dir)), file_(std::move(file)) {}

  [[nodiscard]] std::string_view format() const override { return "ct2"; }
  [[nodiscard]] const std::filesystem::path& path() const override { return dir_; }
  [[nodiscard]] const Variable* find(std::string_view name) const override {
    return file_.find(name);
  }
  [[nodiscard]] std::vector<std::string> names() const override {
    std::vector<std::string> names;
    names.reserve(file_.variables().size());
    for (const auto& variable : file_.variables()) names.push_back(variable.name);
    return names;
  }
  [[nodiscard]] std::string stored_type() const override {
    const auto* probe = file_.find("encoder/layer_0/ffn/linear_0/weight");
    return probe != nullptr ? std::string(dtype_name(probe->dtype)) : std::string("float32");
  }
  [[nodiscard]] WhisperConfig config() const override {
    return read_ct2_config(dir_ / "config.json");
  }
  [[nodiscard]] Vocabulary vocabulary() const override {
    auto vocabulary = read_ct2_vocabulary(dir_);
    if (vocabulary.tokens.empty()) {
      throw Error(dir_.string() +
                  ": vocabulary not found (expected vocabulary.json or vocabulary.txt)");
    }
    vocabulary.merges = read_merges(dir_ / "tokenizer.json");
    return vocabulary;
  }

 private:
  std::filesystem::path dir_;
  Ct2ModelFile file_;
};

}  // namespace

std::unique_ptr<ModelSource> open_ct2_model(const std::filesystem::path& model_dir) {
  auto file = Ct2ModelFile::open(model_dir / "model.bin");
  if (file.spec_name() != "WhisperSpec") {
    throw Error(file.path().string() + ": not a Whisper model (the file holds a " +
                file.spec_name() + ")");
  }
  return std::make_unique<Ct2ModelSource>(model_dir, std::move(file));
}

WhisperConfig read_ct2_config(const std::filesystem::path& path) {
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

}  // namespace amanuensis::model
