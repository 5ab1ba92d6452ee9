// log_mel_tool --mels N IN.f32 OUT.f32: the log-mel features of a raw float32 16 kHz waveform,
// written as raw float32 [n_mels][frames], for comparison with faster-whisper in tests.
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "features/log_mel.h"
#include "kernels/backend.h"

int main(int argc, char** argv) {
  if (argc != 5 || std::string(argv[1]) != "--mels") {
    std::cerr << "usage: log_mel_tool --mels N IN.f32 OUT.f32\n";
    return 2;
  }
  const int n_mels = std::stoi(argv[2]);
  std::ifstream in(argv[3], std::ios::binary | std::ios::ate);
  std::vector<float> audio(static_cast<std::size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(audio.data()),
          static_cast<std::streamsize>(audio.size() * sizeof(float)));
  const auto backend = amanuensis::kernels::make_cpu_backend(1);
  const auto mel = amanuensis::features::compute_log_mel(audio, n_mels, *backend);
  std::ofstream out(argv[4], std::ios::binary);
  out.write(reinterpret_cast<const char*>(mel.values.data()),
            static_cast<std::streamsize>(mel.values.size() * sizeof(float)));
  return out ? 0 : 1;
}
