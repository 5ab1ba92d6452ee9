// default_vad_options: the VAD settings each transcription mode starts from. Pure (no model, no
// kernels), so the service's form layer and its fuzz targets can link it on its own.
#include "amanuensis/amanuensis.h"

namespace amanuensis {

VadOptions default_vad_options(const TranscribeOptions& options) {
  // faster-whisper's batched pipeline cuts speech at shorter silences than its sequential default.
  constexpr int kBatchedMinSilenceMs = 160;
  VadOptions vad;
  if (options.batch_size > 0) vad.min_silence_duration_ms = kBatchedMinSilenceMs;
  return vad;
}

}  // namespace amanuensis
