// libFuzzer target: the safetensors reader (Hugging Face checkpoints, user-supplied with
// --model) on arbitrary bytes. Whatever the bytes, it returns tensors whose data lies inside the
// file and matches their shape and type, or throws amanuensis::Error naming the file; it never
// crashes or reads out of bounds.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "model/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("safetensors_fuzz_" + std::to_string(::getpid())))
          .string();
  if (std::FILE* file = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, file);
    std::fclose(file);
  } else {
    return 0;
  }
  try {
    const auto file = amanuensis::model::SafetensorsFile::open(path);
    for (const auto& [name, variable] : file.tensors()) {
      const auto expected = static_cast<std::size_t>(variable.element_count()) *
                            amanuensis::model::dtype_size(variable.dtype);
      if (variable.data.size() != expected) __builtin_trap();
      volatile std::byte sink{};
      for (const auto byte : variable.data) sink = byte;  // every byte readable
    }
  } catch (const amanuensis::Error& error) {
    if (!std::string_view(error.what()).starts_with(path)) __builtin_trap();
  }
  return 0;
}
