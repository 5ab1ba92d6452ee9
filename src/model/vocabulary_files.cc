#include "model/vocabulary_files.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

namespace {

nlohmann::json parse_json_file(const std::filesystem::path& path) {
  std::ifstream stream(path);
  if (!stream) throw Error(path.string() + ": not found or not readable");
  try {
    return nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

std::vector<std::pair<std::string, std::string>> merges_of(const nlohmann::json& model) {
  std::vector<std::pair<std::string, std::string>> merges;
  if (!model.contains("merges")) return merges;
  for (const auto& merge : model.at("merges")) {
    if (merge.is_string()) {
      const auto text = merge.get<std::string>();
      const auto space = text.find(' ');
      if (space == std::string::npos) continue;
      merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else {
      merges.emplace_back(merge.at(0).get<std::string>(), merge.at(1).get<std::string>());
    }
  }
  return merges;
}

}  // namespace

Vocabulary read_ct2_vocabulary(const std::filesystem::path& model_dir) {
  const auto json_path = model_dir / "vocabulary.json";
  const auto text_path = model_dir / "vocabulary.txt";
  Vocabulary vocabulary;
  if (std::filesystem::exists(json_path)) {
    vocabulary.source = json_path.string();
    try {
      vocabulary.tokens = parse_json_file(json_path).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(vocabulary.source + ": not a JSON list of tokens: " + e.what());
    }
  } else if (std::filesystem::exists(text_path)) {
    vocabulary.source = text_path.string();
    std::ifstream stream(text_path);
    for (std::string line; std::getline(stream, line);) vocabulary.tokens.push_back(line);
  }
  return vocabulary;
}

std::vector<std::pair<std::string, std::string>> read_merges(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return {};
  const auto json = parse_json_file(path);
  try {
    return merges_of(json.at("model"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": cannot read the BPE merges: " + e.what());
  }
}

Vocabulary read_tokenizer_json(const std::filesystem::path& path) {
  const auto json = parse_json_file(path);
  Vocabulary vocabulary;
  vocabulary.source = path.string();
  try {
    std::vector<std::pair<std::string, int>> ids;
    for (const auto& [token, id] : json.at("model").at("vocab").items()) {
      ids.emplace_back(token, id.get<int>());
    }
    for (const auto& added : json.value("added_tokens", nlohmann::json::array())) {
      ids.emplace_back(added.at("content").get<std::string>(), added.at("id").get<int>());
    }
    for (const auto& [token, id] : ids) {
      if (id < 0 || id > 10'000'000) throw Error(path.string() + ": token id out of range");
      if (static_cast<std::size_t>(id) >= vocabulary.tokens.size()) {
        vocabulary.tokens.resize(static_cast<std::size_t>(id) + 1);
      }
      vocabulary.tokens[static_cast<std::size_t>(id)] = token;
    }
    vocabulary.merges = merges_of(json.at("model"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not a tokenizer.json with a BPE vocabulary: " + e.what());
  }
  return vocabulary;
}

void complete_with_timestamps(std::vector<std::string>& tokens, std::size_t size) {
  for (int i = 0; tokens.size() < size; ++i) {
    char text[32];
    std::snprintf(text, sizeof text, "<|%.2f|>", i * 0.02);
    tokens.emplace_back(text);
  }
}

}  // namespace amanuensis::model
