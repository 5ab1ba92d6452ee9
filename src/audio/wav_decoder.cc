// The RIFF WAV reader that builds without FFmpeg decode through (AMANUENSIS_WITH_FFMPEG=OFF,
// audio_decoder_wav_only.cc): 16 kHz, 16-bit PCM or 32-bit float, any channel count (averaged to
// mono). Anything else is refused with a message that says what such a build reads. Samples are
// scaled as the FFmpeg path scales them (int16 / 32768), so a 16 kHz mono 16-bit WAV decodes to
// the same floats either way. Always compiled, so that its tests and fuzzing run in every build.

#include <algorithm>
#include <cstring>
#include <string>

#include "audio/audio_decoder.h"

namespace amanuensis {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error("cannot decode audio from " + source + ": " + what +
              " (without FFmpeg, only 16 kHz WAV is read)");
}

template <typename T>
T read_le(std::span<const std::uint8_t> bytes, std::size_t at) {
  T value{};
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

struct WavFormat {
  std::uint16_t encoding = 0;  // 1 = PCM, 3 = IEEE float
  std::uint16_t channels = 0;
  std::uint32_t rate = 0;
  std::uint16_t bits = 0;
};

Waveform samples_of(std::span<const std::uint8_t> data, const WavFormat& format, double max_seconds,
                    const std::string& source) {
  const std::size_t frame_bytes = std::size_t{format.channels} * (format.bits / 8U);
  const std::size_t frames = data.size() / frame_bytes;
  if (static_cast<double>(frames) / format.rate > max_seconds) fail(source, "audio is too long");
  Waveform out(frames);
  for (std::size_t f = 0; f < frames; ++f) {
    float sum = 0.0F;
    for (std::size_t c = 0; c < format.channels; ++c) {
      const std::size_t at = f * frame_bytes + c * (format.bits / 8U);
      sum += format.encoding == 3 ? read_le<float>(data, at)
                                  : static_cast<float>(read_le<std::int16_t>(data, at)) / 32768.0F;
    }
    out[f] = sum / static_cast<float>(format.channels);
  }
  if (out.empty()) fail(source, "contains no decodable audio (corrupt or truncated data)");
  return out;
}

}  // namespace

Waveform audio::decode_wav(std::span<const std::uint8_t> bytes, double max_seconds,
                           const std::string& source) {
  if (bytes.empty()) fail(source, "input is empty (0 bytes)");
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 ||
      std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
    fail(source, "not a RIFF WAV file");
  }
  WavFormat format;
  std::size_t at = 12;
  while (at + 8 <= bytes.size()) {
    const auto size = read_le<std::uint32_t>(bytes, at + 4);
    const std::size_t body = at + 8;
    const std::size_t available = std::min<std::size_t>(size, bytes.size() - body);
    if (std::memcmp(bytes.data() + at, "fmt ", 4) == 0 && available >= 16) {
      format = {read_le<std::uint16_t>(bytes, body), read_le<std::uint16_t>(bytes, body + 2),
                read_le<std::uint32_t>(bytes, body + 4), read_le<std::uint16_t>(bytes, body + 14)};
    } else if (std::memcmp(bytes.data() + at, "data", 4) == 0) {
      const bool pcm16 = format.encoding == 1 && format.bits == 16;
      const bool float32 = format.encoding == 3 && format.bits == 32;
      if (!(pcm16 || float32) || format.channels == 0 || format.rate != 16000) {
        fail(source, "WAV must be 16 kHz, 16-bit PCM or 32-bit float");
      }
      return samples_of(bytes.subspan(body, available), format, max_seconds, source);
    }
    at = body + size + (size & 1U);
  }
  fail(source, "WAV has no data chunk");
}

}  // namespace amanuensis
