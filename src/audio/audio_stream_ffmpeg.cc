// LiveAudioReader for any input FFmpeg reads, from a pipe: probed with a small budget (a
// recording's header says what it holds), then decoded one packet at a time.
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "audio/audio_stream.h"
#include "audio/ffmpeg_input.h"

namespace amanuensis::audio {

namespace {

using namespace ffmpeg;  // NOLINT(google-build-using-namespace): this file's toolkit

// No limit on a live input's length: it is consumed as it comes, not held.
constexpr double kUnlimitedSeconds = 1e12 / kSampleRate;

// AVIO's read callback over a file descriptor: whatever has arrived, waiting for at least a byte.
int read_fd(void* opaque, std::uint8_t* buffer, int size) {
  const int fd = *static_cast<int*>(opaque);
  ssize_t got = 0;
  do {
    got = ::read(fd, buffer, static_cast<std::size_t>(size));
  } while (got < 0 && errno == EINTR);
  if (got < 0) return AVERROR(errno);
  if (got == 0) return AVERROR_EOF;
  return static_cast<int>(got);
}

class FfmpegReader final : public LiveAudioReader {
 public:
  FfmpegReader(int fd, std::string source)
      : fd_(fd),
        source_(std::move(source)),
        io_(open_callback_io(&fd_, &read_fd, /*seek=*/nullptr, source_)),
        format_(open_container(*io_, "", source_, /*live=*/true)),
        stream_(select_audio_stream(*format_, source_)),
        codec_(open_decoder(*format_->streams[stream_], source_)),
        packet_(check_allocated(av_packet_alloc(), source_)),
        frame_(check_allocated(av_frame_alloc(), source_)),
        output_(source_, kUnlimitedSeconds) {}

  bool read(Waveform& out) override {
    if (ended_) return false;
    // A read error ends the input like EOF does: what preceded it has been handed over.
    if (av_read_frame(format_.get(), packet_.get()) < 0) {
      avcodec_send_packet(codec_.get(), nullptr);  // enter draining mode
      receive_frames(*codec_, *frame_, output_);
      append(output_.finish(), out);
      ended_ = true;
      return true;
    }
    // A packet the decoder rejects is skipped, as the ffmpeg tool does.
    if (packet_->stream_index == stream_ && avcodec_send_packet(codec_.get(), packet_.get()) >= 0) {
      receive_frames(*codec_, *frame_, output_);
    }
    av_packet_unref(packet_.get());
    append(output_.take(), out);
    return true;
  }

 private:
  static void append(const Waveform& samples, Waveform& out) {
    out.insert(out.end(), samples.begin(), samples.end());
  }

  int fd_;
  std::string source_;
  MemoryIo io_;
  FormatContext format_;
  int stream_;
  CodecContext codec_;
  Packet packet_;
  Frame frame_;
  PcmResampler output_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<LiveAudioReader> open_ffmpeg_live_reader(int fd, std::string source) {
  silence_ffmpeg_logs();
  return std::make_unique<FfmpegReader>(fd, std::move(source));
}

}  // namespace amanuensis::audio
