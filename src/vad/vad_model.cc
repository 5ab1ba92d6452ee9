#include "vad/vad_model.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "vad/embedded_model.h"

namespace amanuensis::vad {

namespace {

constexpr const char* kBuiltInName = "the built-in silero_vad_v6.onnx";

std::vector<std::byte> read_model_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    throw Error(path.string() + ": VAD model (silero_vad_v6.onnx) not found");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw Error(path.string() + ": VAD model (silero_vad_v6.onnx) is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  const auto size = std::filesystem::file_size(path, error);
  if (!in || error) throw Error(path.string() + ": cannot open the VAD model (silero_vad_v6.onnx)");
  std::vector<std::byte> out(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (in.gcount() != static_cast<std::streamsize>(out.size())) {
    throw Error(path.string() + ": cannot read the VAD model (silero_vad_v6.onnx)");
  }
  return out;
}

std::shared_ptr<const SileroVad> load_uncached(const std::string& key,
                                               const std::filesystem::path& path) {
  if (!path.empty()) {
    const auto bytes = read_model_file(path);
    return std::make_shared<const SileroVad>(SileroVad::from_onnx(bytes, key));
  }
  const auto built_in = embedded_silero_vad();
  if (built_in.empty()) {
    throw Error(
        "no VAD model: none was given, $AMANUENSIS_VAD_MODEL is not set, and this build has no "
        "silero_vad_v6.onnx built in (scripts/setup.sh puts it at models/silero_vad_v6.onnx; "
        "then rebuild)");
  }
  return std::make_shared<const SileroVad>(SileroVad::from_onnx(built_in, kBuiltInName));
}

}  // namespace

std::shared_ptr<const SileroVad> load_silero_vad(const std::filesystem::path& path) {
  std::filesystem::path chosen = path;
  if (chosen.empty()) {
    const char* variable = std::getenv(kVadModelVariable);
    if (variable != nullptr && *variable != '\0') chosen = variable;
  }
  const std::string key =
      chosen.empty() ? kBuiltInName : std::filesystem::absolute(chosen).lexically_normal().string();

  // One lock for lookups and loads: a load takes milliseconds and happens once per model.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const SileroVad>> cache;
  const std::lock_guard lock(mutex);
  auto& entry = cache[key];
  if (!entry) {
    try {
      entry = load_uncached(key, chosen);
    } catch (...) {
      cache.erase(key);
      throw;
    }
  }
  return entry;
}

}  // namespace amanuensis::vad
