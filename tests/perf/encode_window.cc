// Encodes one 30-second window with a model, once: the workload whose instruction count
// tests/perf/callgrind_guard.py checks under callgrind (only encode() is counted).
//
//   encode_window MODEL_DIR [THREADS]
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "model/whisper_model.h"
#include "model/whisper_weights.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: encode_window MODEL_DIR [THREADS]\n");
    return 2;
  }
  namespace am = amanuensis;
  const int threads = argc > 2 ? std::stoi(argv[2]) : 1;
  const am::model::WhisperModel model(am::model::load_whisper_weights(argv[1]),
                                      am::kernels::make_cpu_backend(threads));
  const auto& w = model.weights();
  // A deterministic, speech-like spread of log-mel values in Whisper's [-1, 1.5] range.
  std::vector<float> mel(static_cast<std::size_t>(w.n_mels) * model.window_frames());
  for (std::size_t i = 0; i < mel.size(); ++i) mel[i] = 0.5F * std::sin(0.001F * static_cast<float>(i));
  const auto out = model.encode(mel);
  double sum = 0;
  for (const float v : out) sum += v;
  std::printf("encoder output checksum %.6f\n", sum);
  return std::isfinite(sum) ? 0 : 1;
}
