// libFuzzer target: whisper.cpp model files (`--model x.bin`) on arbitrary bytes. Whatever the
// bytes, open_ggml_model gives a model whose tensors have the bytes their shapes need (widened,
// and as block levels where block-quantized) and whose vocabulary and configuration can be read, or
// throws amanuensis::Error naming the file; it never crashes, reads out of bounds or allocates for
// a size the file does not hold.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "model/ggml_model_source.h"
#include "model/tensor_values.h"

namespace {

const std::filesystem::path& input_path() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ggml_model_fuzz-" + std::to_string(::getpid()));
  return path;
}

void check_error(const amanuensis::Error& error) {
  if (std::string_view(error.what()).rfind(input_path().string(), 0) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace amanuensis::model;
  {
    std::ofstream stream(input_path(), std::ios::binary | std::ios::trunc);
    stream.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto source = open_ggml_model(input_path());
    const auto dims = whisper_dims(*source);
    for (const auto& name : whisper_tensor_names(dims)) {
      const auto& variable = source->get(name);
      if (to_float(*source, variable).size() !=
          static_cast<std::size_t>(variable.element_count())) {
        __builtin_trap();
      }
      // A block-quantized matrix's levels and block scales cover it exactly.
      if (const auto blocks = source->block_int8(name)) {
        if (blocks->levels.size() != static_cast<std::size_t>(variable.element_count()) ||
            blocks->scales.size() * 32 != blocks->levels.size()) {
          __builtin_trap();
        }
      }
    }
    if (source->vocabulary().tokens.size() != static_cast<std::size_t>(dims.n_vocab)) {
      __builtin_trap();
    }
    (void)source->config();
  } catch (const amanuensis::Error& error) {
    check_error(error);
  }
  return 0;
}
