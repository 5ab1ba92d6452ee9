// decode_audio_file and decode_audio_bytes in a build without FFmpeg: 16 kHz WAV only, through
// audio::decode_wav (wav_decoder.cc).

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audio/audio_decoder.h"
#include "audio/audio_stream.h"

namespace amanuensis {

Waveform decode_audio_file(const std::filesystem::path& path) {
  const std::string source = '"' + path.string() + '"';
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("cannot decode audio from " + source + ": file not found");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                                        std::istreambuf_iterator<char>());
  return audio::decode_wav(bytes, audio::kMaxDurationSeconds, source);
}

Waveform decode_audio_bytes(std::span<const std::uint8_t> bytes) {
  return audio::decode_audio_bytes(bytes, audio::kMaxDurationSeconds);
}

Waveform audio::decode_audio_bytes(std::span<const std::uint8_t> bytes,
                                   double max_duration_seconds) {
  return decode_wav(bytes, max_duration_seconds, "<memory buffer>");
}

StereoWaveform decode_audio_file_stereo(const std::filesystem::path& path) {
  throw Error("cannot decode " + path.string() +
              " as stereo: this build reads mono 16 kHz WAV only (built without FFmpeg)");
}

StereoWaveform decode_audio_bytes_stereo(std::span<const std::uint8_t> /*bytes*/) {
  throw Error(
      "cannot decode audio as stereo: this build reads mono 16 kHz WAV only (built without "
      "FFmpeg)");
}

}  // namespace amanuensis

namespace amanuensis::audio {

std::unique_ptr<LiveAudioReader> open_ffmpeg_live_reader(int /*fd*/, std::string source) {
  throw Error("cannot decode audio from " + source +
              ": this build reads only raw 16 kHz 16-bit PCM live (built without FFmpeg)");
}

}  // namespace amanuensis::audio
