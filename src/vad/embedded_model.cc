// The bytes of silero_vad_v6.onnx, included by the assembler (.incbin) from the path CMake passes
// in AMANUENSIS_SILERO_VAD_FILE; CMake rebuilds this file when that one changes.
#include "vad/embedded_model.h"

#include <cstdint>

#ifndef AMANUENSIS_SILERO_VAD_FILE
#error "AMANUENSIS_SILERO_VAD_FILE must name the silero_vad_v6.onnx to build in"
#endif

// clang-format off
asm(".pushsection .rodata\n"
    ".balign 64\n"
    ".globl amanuensis_silero_vad_begin\n"
    ".hidden amanuensis_silero_vad_begin\n"
    "amanuensis_silero_vad_begin:\n"
    ".incbin \"" AMANUENSIS_SILERO_VAD_FILE "\"\n"
    ".globl amanuensis_silero_vad_end\n"
    ".hidden amanuensis_silero_vad_end\n"
    "amanuensis_silero_vad_end:\n"
    ".popsection\n");
// clang-format on

// The assembler's symbols above. NOLINTBEGIN(readability-identifier-naming)
extern "C" const std::byte amanuensis_silero_vad_begin[];
extern "C" const std::byte amanuensis_silero_vad_end[];
// NOLINTEND(readability-identifier-naming)

namespace amanuensis::vad {

std::span<const std::byte> embedded_silero_vad() {
  // Two symbols, so the size is computed from their addresses rather than by pointer arithmetic
  // across what C++ sees as two objects.
  const auto size = reinterpret_cast<std::uintptr_t>(amanuensis_silero_vad_end) -
                    reinterpret_cast<std::uintptr_t>(amanuensis_silero_vad_begin);
  return {amanuensis_silero_vad_begin, static_cast<std::size_t>(size)};
}

}  // namespace amanuensis::vad
