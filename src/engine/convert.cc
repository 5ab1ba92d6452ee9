// The public model conversion: picks the writer for the target format and checks the names.
#include <array>
#include <span>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "model/model_source.h"
#include "model/model_writers.h"

namespace amanuensis {

namespace {

constexpr std::array<std::string_view, 4> kCt2Types = {"float32", "float16", "bfloat16", "int8"};
constexpr std::array<std::string_view, 3> kHfTypes = {"float32", "float16", "bfloat16"};
constexpr std::array<std::string_view, 7> kGgmlTypes = {"f32",  "f16",  "q8_0", "q5_0",
                                                        "q5_1", "q4_0", "q4_1"};

std::string checked_type(const std::string& type, std::span<const std::string_view> allowed,
                         std::string_view format) {
  for (const auto name : allowed) {
    if (type == name) return type;
  }
  std::string list;
  for (const auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
  throw Error("--quantize " + type + " is not a " + std::string(format) + " weight type (" + list +
              ")");
}

}  // namespace

std::string model_format(const std::filesystem::path& path) {
  return model::detect_model_format(path);
}

void convert_model(const ConvertOptions& options) {
  std::error_code error;
  if (options.output.empty()) throw Error("convert: no output path given");
  if (std::filesystem::exists(options.output, error)) {
    throw Error(options.output.string() + ": already exists; convert writes a new model only");
  }
  std::string type = options.quantize;
  if (options.to == "ggml") {
    if (type.empty() || type == "float16") type = "f16";
    if (type == "float32") type = "f32";
    type = checked_type(type, kGgmlTypes, "ggml");
  } else if (options.to == "ct2" || options.to == "hf") {
    if (type.empty() || type == "f16") type = "float16";
    if (type == "f32") type = "float32";
    type = options.to == "ct2" ? checked_type(type, kCt2Types, "ct2")
                               : checked_type(type, kHfTypes, "hf");
  } else {
    throw Error("convert: unknown target format \"" + options.to + "\" (expected ct2, hf or ggml)");
  }
  const auto source = model::open_model_source(options.model);
  if (options.to == "ct2") {
    model::write_ct2_model(*source, options.output, type);
  } else if (options.to == "hf") {
    model::write_hf_model(*source, options.output, type);
  } else {
    model::write_ggml_model(*source, options.output, type);
  }
}

}  // namespace amanuensis
