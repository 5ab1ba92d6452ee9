// LiveAudioReader for raw 16 kHz PCM: no FFmpeg needed, and nothing read ahead.
#include "audio/audio_stream.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

namespace amanuensis::audio {

namespace {

// 100 ms at 16 kHz: a read returns what has arrived, up to this much.
constexpr std::size_t kReadBytes = 3200;
constexpr float kInt16Scale = 32768.0F;

class Pcm16Reader final : public LiveAudioReader {
 public:
  Pcm16Reader(int fd, std::string source) : fd_(fd), source_(std::move(source)) {}

  bool read(Waveform& out) override {
    std::array<std::uint8_t, kReadBytes + 1> bytes{};
    std::size_t have = 0;
    if (odd_byte_) bytes[have++] = *std::exchange(odd_byte_, std::nullopt);
    ssize_t got = 0;
    do {
      got = ::read(fd_, bytes.data() + have, kReadBytes);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      throw Error("cannot read audio from " + source_ + ": " + std::strerror(errno));
    }
    if (got == 0) return false;  // a trailing half sample is dropped, as any decoder would
    have += static_cast<std::size_t>(got);
    if (have % 2 != 0) odd_byte_ = bytes[--have];
    for (std::size_t i = 0; i < have; i += 2) {
      const auto sample =
          static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[i] | (bytes[i + 1] << 8)));
      out.push_back(static_cast<float>(sample) / kInt16Scale);
    }
    return true;
  }

 private:
  int fd_;
  std::string source_;
  std::optional<std::uint8_t> odd_byte_;
};

}  // namespace

std::unique_ptr<LiveAudioReader> LiveAudioReader::open(int fd, LiveFormat format,
                                                       std::string source) {
  if (format == LiveFormat::kPcm16) return std::make_unique<Pcm16Reader>(fd, std::move(source));
  return open_ffmpeg_live_reader(fd, std::move(source));
}

}  // namespace amanuensis::audio
