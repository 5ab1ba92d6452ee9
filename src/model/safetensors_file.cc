#include "model/safetensors_file.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100ULL << 20U;  // as the safetensors library limits it
constexpr std::size_t kMaxRank = 8;

constexpr std::array<std::pair<std::string_view, DType>, 6> kTypes = {{{"F32", DType::kFloat32},
                                                                       {"F16", DType::kFloat16},
                                                                       {"BF16", DType::kBFloat16},
                                                                       {"I8", DType::kInt8},
                                                                       {"I16", DType::kInt16},
                                                                       {"I32", DType::kInt32}}};

std::optional<DType> dtype_of(std::string_view name) {
  for (const auto& [text, dtype] : kTypes) {
    if (text == name) return dtype;
  }
  return std::nullopt;
}

struct Entry {
  Variable variable;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& json,
                  const std::filesystem::path& path) {
  const auto problem = [&](const std::string& what) {
    return path.string() + ": tensor " + name + " " + what;
  };
  const auto type_name = json.at("dtype").get<std::string>();
  const auto dtype = dtype_of(type_name);
  if (!dtype) throw Error(problem("has type " + type_name + ", which Amanuensis does not read"));
  Entry entry;
  entry.variable.name = name;
  entry.variable.dtype = *dtype;
  const auto& shape = json.at("shape");
  if (!shape.is_array() || shape.size() > kMaxRank) throw Error(problem("has a bad shape"));
  std::uint64_t count = 1;
  for (const auto& dim : shape) {
    const auto value = dim.get<std::int64_t>();
    if (value < 0 || value > (1LL << 40)) throw Error(problem("has a bad dimension"));
    count *= static_cast<std::uint64_t>(value);
    if (count > (1ULL << 40)) throw Error(problem("is implausibly large"));
    entry.variable.shape.push_back(value);
  }
  const auto& offsets = json.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) throw Error(problem("has bad data_offsets"));
  entry.begin = offsets.at(0).get<std::uint64_t>();
  entry.end = offsets.at(1).get<std::uint64_t>();
  if (entry.end < entry.begin || entry.end - entry.begin != count * dtype_size(*dtype)) {
    throw Error(problem("has data_offsets that do not fit its shape and type"));
  }
  return entry;
}

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const auto& [text, type] : kTypes) {
    if (type == dtype) return text;
  }
  return "?";
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": file not found");
  SafetensorsFile file;
  file.path_ = path;
  file.mapping_ = util::MappedFile(path);
  const auto bytes = file.mapping_.bytes();
  std::uint64_t header_size = 0;
  if (bytes.size() < sizeof header_size) {
    throw Error(path.string() + ": truncated: too short for a safetensors header");
  }
  std::memcpy(&header_size, bytes.data(), sizeof header_size);
  if (header_size > kMaxHeaderBytes || header_size > bytes.size() - sizeof header_size) {
    throw Error(path.string() + ": truncated or not safetensors: the header claims " +
                std::to_string(header_size) + " bytes");
  }
  const auto data = bytes.subspan(sizeof header_size + header_size);
  nlohmann::json header;
  try {
    const auto* text = reinterpret_cast<const char*>(bytes.data() + sizeof header_size);
    header = nlohmann::json::parse(text, text + header_size);
    if (!header.is_object()) throw Error(path.string() + ": the header is not a JSON object");
    std::vector<Entry> entries;
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") continue;
      entries.push_back(parse_entry(name, value, path));
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    std::uint64_t covered = 0;
    for (auto& entry : entries) {
      if (entry.begin < covered || entry.end > data.size()) {
        throw Error(
            path.string() + ": truncated or corrupt: tensor " + entry.variable.name +
            (entry.end > data.size() ? " ends past the end of the file" : " overlaps another"));
      }
      covered = entry.end;
      entry.variable.data = data.subspan(entry.begin, entry.end - entry.begin);
      auto name = entry.variable.name;
      file.tensors_.emplace(std::move(name), std::move(entry.variable));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not a valid safetensors header: " + e.what());
  }
  return file;
}

const Variable* SafetensorsFile::find(std::string_view name) const {
  const auto found = tensors_.find(name);
  return found == tensors_.end() ? nullptr : &found->second;
}

}  // namespace amanuensis::model
