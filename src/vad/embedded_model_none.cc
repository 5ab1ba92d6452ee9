// Built instead of embedded_model.cc when CMake found no silero_vad_v6.onnx to build in (run
// scripts/setup.sh, which puts it at models/silero_vad_v6.onnx and configures again).
#include "vad/embedded_model.h"

namespace amanuensis::vad {

std::span<const std::byte> embedded_silero_vad() { return {}; }

}  // namespace amanuensis::vad
