// The silero_vad_v6.onnx built into the library at compile time (CMake's AMANUENSIS_SILERO_VAD;
// scripts/setup.sh puts the file at models/silero_vad_v6.onnx). A build configured without the
// file holds none.
#pragma once

#include <cstddef>
#include <span>

namespace amanuensis::vad {

// The file's bytes; empty when this build has no VAD model built in.
std::span<const std::byte> embedded_silero_vad();

}  // namespace amanuensis::vad
