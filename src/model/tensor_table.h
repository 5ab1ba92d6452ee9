// The tensors of a ModelSource that renames or assembles them (Hugging Face, ggml), by
// CTranslate2's names: spans of the model's mapped files, or buffers the table owns (fused
// projections, widened or dequantized weights, head-count scalars).
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/ct2_model_file.h"

namespace amanuensis::model {

class TensorTable {
 public:
  [[nodiscard]] const Variable* find(std::string_view name) const {
    const auto found = variables_.find(name);
    return found == variables_.end() ? nullptr : &found->second;
  }

  [[nodiscard]] Variable* find_mutable(std::string_view name) {
    const auto found = variables_.find(name);
    return found == variables_.end() ? nullptr : &found->second;
  }

  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> names;
    names.reserve(variables_.size());
    for (const auto& [name, variable] : variables_) names.push_back(name);
    return names;
  }

  // A buffer that lives as long as the table, for a variable's data.
  std::vector<std::byte>& new_buffer(std::size_t size = 0) { return owned_.emplace_back(size); }

  void add(Variable variable) {
    auto name = variable.name;
    variables_.emplace(std::move(name), std::move(variable));
  }

  void add_scalar(const std::string& name, std::int32_t value) {
    auto& buffer = new_buffer(sizeof value);
    std::memcpy(buffer.data(), &value, sizeof value);
    add(Variable{name, {}, DType::kInt32, buffer});
  }

 private:
  std::map<std::string, Variable, std::less<>> variables_;
  std::deque<std::vector<std::byte>> owned_;
};

}  // namespace amanuensis::model
