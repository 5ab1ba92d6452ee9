// Reader for CTranslate2's `model.bin`: the binary format faster-whisper's models ship in.
//
// Layout (little-endian), as written by ctranslate2/specs/model_spec.py, binary version 6:
//   u32 binary_version | string spec_name | u32 spec_revision | u32 n_variables
//   n_variables x { string name | u8 rank | u32 dims[rank] | u8 dtype | u32 n_bytes | bytes }
//   u32 n_aliases | n_aliases x { string alias | string target }
// where a string is u16 length (including a trailing NUL) followed by the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/mapped_file.h"

namespace amanuensis::model {

// Element types, numbered as CTranslate2's DataType enum.
enum class DType : std::uint8_t {
  kFloat32 = 0,
  kInt8 = 1,
  kInt16 = 2,
  kInt32 = 3,
  kFloat16 = 4,
  kBFloat16 = 5
};

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);

struct Variable {
  std::string name;
  std::vector<std::int64_t> shape;
  DType dtype = DType::kFloat32;
  std::span<const std::byte> data;  // points into the mapped file

  [[nodiscard]] std::int64_t element_count() const;
};

class Ct2ModelFile {
 public:
  // Maps and parses `path`; throws amanuensis::Error naming the file and the defect.
  static Ct2ModelFile open(const std::filesystem::path& path);

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::uint32_t binary_version() const { return binary_version_; }
  [[nodiscard]] const std::string& spec_name() const { return spec_name_; }
  [[nodiscard]] std::uint32_t spec_revision() const { return spec_revision_; }
  [[nodiscard]] const std::vector<Variable>& variables() const { return variables_; }

  // Looks a variable up by name or alias; nullptr when absent.
  [[nodiscard]] const Variable* find(std::string_view name) const;
  // As find(), but a missing variable is an error that names the file.
  [[nodiscard]] const Variable& get(std::string_view name) const;

 private:
  Ct2ModelFile() = default;

  std::filesystem::path path_;
  util::MappedFile mapping_;
  std::uint32_t binary_version_ = 0;
  std::string spec_name_;
  std::uint32_t spec_revision_ = 0;
  std::vector<Variable> variables_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name or alias -> variables_ index
};

}  // namespace amanuensis::model
