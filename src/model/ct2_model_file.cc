#include "model/ct2_model_file.h"

#include <cstring>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/byte_reader.h"

namespace amanuensis::model {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt8:
      return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kInt8:
      return "int8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
  }
  return "unknown";
}

std::int64_t Variable::element_count() const {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

namespace {

// A CTranslate2 string: u16 length (with the trailing NUL), then the bytes.
std::string read_string(ByteReader& reader, std::string_view what) {
  const auto length = reader.read<std::uint16_t>(what);
  if (length == 0) reader.fail(std::string(what) + " has length 0");
  const auto chars = reader.take(length, what);
  if (chars[length - 1] != std::byte{0}) reader.fail(std::string(what) + " is not NUL-terminated");
  return {reinterpret_cast<const char*>(chars.data()), length - 1U};
}

constexpr std::uint32_t kOldestSupportedVersion = 5;
constexpr std::uint32_t kNewestSupportedVersion = 6;
constexpr std::uint8_t kMaxRank = 8;

}  // namespace

Ct2ModelFile Ct2ModelFile::open(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw Error(path.string() + ": model file not found");
  }
  Ct2ModelFile file;
  file.path_ = path;
  file.mapping_ = util::MappedFile(path);
  if (file.mapping_.bytes().empty()) {
    throw Error(path.string() + ": the model file is empty");
  }
  ByteReader reader(file.mapping_.bytes(), file.path_);

  file.binary_version_ = reader.read<std::uint32_t>("the header");
  if (file.binary_version_ < kOldestSupportedVersion ||
      file.binary_version_ > kNewestSupportedVersion) {
    reader.fail("not a CTranslate2 model of a supported version (binary version " +
                std::to_string(file.binary_version_) + "; supported: 5 and 6)");
  }
  file.spec_name_ = read_string(reader, "the model spec name");
  file.spec_revision_ = reader.read<std::uint32_t>("the spec revision");

  const auto n_variables = reader.read<std::uint32_t>("the variable count");
  for (std::uint32_t i = 0; i < n_variables; ++i) {
    const std::string where = "variable " + std::to_string(i);
    Variable variable;
    variable.name = read_string(reader, where + "'s name");
    const auto rank = reader.read<std::uint8_t>(variable.name);
    if (rank > kMaxRank)
      reader.fail(variable.name + " has an implausible rank " + std::to_string(rank));
    for (std::uint8_t d = 0; d < rank; ++d) {
      variable.shape.push_back(reader.read<std::uint32_t>(variable.name));
    }
    const auto dtype_id = reader.read<std::uint8_t>(variable.name);
    if (dtype_id > static_cast<std::uint8_t>(DType::kBFloat16)) {
      reader.fail(variable.name + " has an unknown data type id " + std::to_string(dtype_id));
    }
    variable.dtype = static_cast<DType>(dtype_id);
    const auto n_bytes = reader.read<std::uint32_t>(variable.name);
    const auto expected =
        static_cast<std::uint64_t>(variable.element_count()) * dtype_size(variable.dtype);
    if (n_bytes != expected) {
      reader.fail(variable.name + " declares " + std::to_string(n_bytes) +
                  " bytes but its shape needs " + std::to_string(expected));
    }
    variable.data = reader.take(n_bytes, variable.name + "'s data");
    file.index_.emplace(variable.name, file.variables_.size());
    file.variables_.push_back(std::move(variable));
  }

  const auto n_aliases = reader.read<std::uint32_t>("the alias count");
  for (std::uint32_t i = 0; i < n_aliases; ++i) {
    auto alias = read_string(reader, "an alias name");
    const auto target = read_string(reader, "an alias target");
    const auto found = file.index_.find(target);
    if (found == file.index_.end())
      reader.fail(std::string("alias ").append(alias).append(" points to missing ").append(target));
    file.index_.emplace(std::move(alias), found->second);
  }
  if (!reader.at_end()) reader.fail("unexpected bytes after the last alias");
  return file;
}

const Variable* Ct2ModelFile::find(std::string_view name) const {
  const auto found = index_.find(name);
  return found == index_.end() ? nullptr : &variables_[found->second];
}

const Variable& Ct2ModelFile::get(std::string_view name) const {
  const auto* variable = find(name);
  if (variable == nullptr) {
    throw Error(path_.string() + ": variable " + std::string(name) + " is missing");
  }
  return *variable;
}

}  // namespace amanuensis::model
