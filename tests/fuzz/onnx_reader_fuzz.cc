// libFuzzer target: the VAD's ONNX reader and the Silero model loader on arbitrary bytes (the
// model file is user-supplied: --vad-model, $AMANUENSIS_VAD_MODEL). Whatever the bytes, the reader
// returns tensors whose data lies inside them and matches their shapes, or throws
// amanuensis::Error naming the source; it never crashes or reads out of bounds. A model the loader
// accepts must then run.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "vad/onnx_reader.h"
#include "vad/silero_vad.h"

namespace {

constexpr std::string_view kSource = "fuzz.onnx";

void check_error(const amanuensis::Error& error) {
  if (std::string_view(error.what()).substr(0, kSource.size()) != kSource) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace amanuensis::vad;
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    for (const auto& tensor : read_onnx_initializers(bytes, kSource)) {
      if (tensor.element_count() < 0) __builtin_trap();
      if (tensor.has_raw_data &&
          (tensor.raw_data.data() < bytes.data() ||
           tensor.raw_data.data() + tensor.raw_data.size() > bytes.data() + bytes.size())) {
        __builtin_trap();
      }
      if (tensor.data_type != OnnxDataType::kFloat) continue;
      try {
        const auto values = onnx_float_values(tensor, kSource);
        if (values.size() != static_cast<std::size_t>(tensor.element_count())) __builtin_trap();
      } catch (const amanuensis::Error& error) {
        check_error(error);  // a float tensor without data
      }
    }
  } catch (const amanuensis::Error& error) {
    check_error(error);
  }
  try {
    const auto vad = SileroVad::from_onnx(bytes, kSource);
    const float audio[1000] = {};
    if (vad.probabilities(audio).size() != 2) __builtin_trap();
  } catch (const amanuensis::Error& error) {
    check_error(error);
  }
  return 0;
}
