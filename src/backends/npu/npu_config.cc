#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "amanuensis/amanuensis.h"
#include "backends/npu/xrt_runner.h"

namespace amanuensis::backends::npu {

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

NpuKernelConfig npu_kernel_config_from_env() {
  NpuKernelConfig config;
  config.xclbin = env("AMANUENSIS_NPU_XCLBIN");
  config.instructions = env("AMANUENSIS_NPU_INSTS");
  if (const auto name = env("AMANUENSIS_NPU_KERNEL"); !name.empty()) config.kernel_name = name;
  if (const auto tile = env("AMANUENSIS_NPU_TILE"); !tile.empty())
    config.tile = parse_tile_shape(tile);
  return config;
}

std::vector<std::uint32_t> read_instructions(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot read the NPU instruction sequence");
  std::vector<std::uint32_t> words;
  if (path.extension() == ".txt") {
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      char* end = nullptr;
      const unsigned long word = std::strtoul(line.c_str(), &end, 16);
      if (end == line.c_str()) throw Error(path.string() + ": not a hex word: " + line);
      words.push_back(static_cast<std::uint32_t>(word));
    }
  } else {
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() % 4 != 0) throw Error(path.string() + ": size is not a multiple of 4 bytes");
    words.resize(bytes.size() / 4);
    for (std::size_t i = 0; i < words.size(); ++i) {
      words[i] = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 * i])) |
                 static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 * i + 1])) << 8 |
                 static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 * i + 2])) << 16 |
                 static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 * i + 3])) << 24;
    }
  }
  if (words.empty()) throw Error(path.string() + ": empty NPU instruction sequence");
  return words;
}

}  // namespace amanuensis::backends::npu
