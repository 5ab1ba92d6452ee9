// Where the Silero VAD's weights come from, and the process-wide cache of loaded models.
#pragma once

#include <filesystem>
#include <memory>

#include "vad/silero_vad.h"

namespace amanuensis::vad {

// The environment variable naming a silero_vad_v6.onnx to use when no path is given.
inline constexpr const char* kVadModelVariable = "AMANUENSIS_VAD_MODEL";

// The VAD model, found in this order: `path` when it is not empty, else $AMANUENSIS_VAD_MODEL when
// it is set and not empty, else the copy built into the library (embedded_model.h); throws Error
// when none of them is there or the file is not a Silero VAD v6 model. Each file (by absolute
// path) and the built-in copy are loaded once and shared for the life of the process; safe to call
// from any number of threads at once.
std::shared_ptr<const SileroVad> load_silero_vad(const std::filesystem::path& path = {});

}  // namespace amanuensis::vad
