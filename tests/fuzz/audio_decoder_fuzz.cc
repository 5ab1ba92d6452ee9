// libFuzzer target: the audio decoder entry the service calls with every upload,
// decode_audio_bytes, and the WAV reader of builds without FFmpeg (decode_wav). Whatever the
// bytes, each returns samples in [-1, 1] (a float WAV: any finite or not) or throws
// amanuensis::Error; neither crashes, hangs or allocates without bound.
//
// The duration limit is lowered to a minute (the public entry allows six hours) so that a header
// claiming hours of audio cannot push a fuzzing run past its memory limit; the limit's code path
// is the same.
#include <cstddef>
#include <cstdint>
#include <span>

#include "amanuensis/amanuensis.h"
#include "audio/audio_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto samples = amanuensis::audio::decode_audio_bytes(std::span(data, size), 60.0);
    if (samples.empty() || samples.size() > 61 * amanuensis::kSampleRate) __builtin_trap();
    for (const float s : samples) {
      if (!(s >= -1.0F && s <= 1.0F)) __builtin_trap();
    }
  } catch (const amanuensis::Error&) {
    // The expected answer to bad input.
  }
  try {
    const auto samples = amanuensis::audio::decode_wav(std::span(data, size), 60.0, "<fuzz>");
    if (samples.empty() || samples.size() > 61 * amanuensis::kSampleRate) __builtin_trap();
  } catch (const amanuensis::Error&) {
  }
  return 0;
}
