// Reader for Hugging Face's safetensors: an 8-byte little-endian header length, a JSON header
// ({"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}),
// then the tensors' bytes, offsets counted from the end of the header.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/ct2_model_file.h"
#include "util/mapped_file.h"

namespace amanuensis::model {

class SafetensorsFile {
 public:
  // Maps and checks `path`: every tensor's type, shape and byte range. Throws amanuensis::Error
  // naming the file and the defect (truncated, a bad header, overlapping or outside ranges).
  static SafetensorsFile open(const std::filesystem::path& path);

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Tensors by their own names (DType as CTranslate2 numbers them; F32, F16, BF16, I8, I16, I32).
  [[nodiscard]] const std::map<std::string, Variable, std::less<>>& tensors() const {
    return tensors_;
  }
  [[nodiscard]] const Variable* find(std::string_view name) const;

 private:
  SafetensorsFile() = default;

  std::filesystem::path path_;
  util::MappedFile mapping_;
  std::map<std::string, Variable, std::less<>> tensors_;
};

// The safetensors type name of a DType ("F32", "F16", "BF16", "I8", "I16", "I32").
std::string_view safetensors_dtype_name(DType dtype);

}  // namespace amanuensis::model
