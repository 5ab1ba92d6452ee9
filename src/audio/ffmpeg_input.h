// The FFmpeg pieces that whole-file decoding (audio_decoder.cc) and live decoding
// (audio_stream.cc) share: owning handles, error text, opening a container safely, picking the
// audio stream and its decoder, and converting frames to 16 kHz mono.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
}

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::audio::ffmpeg {

inline constexpr int kIoBufferSize = 64 * 1024;

struct FormatContextDeleter {
  void operator()(AVFormatContext* context) const { avformat_close_input(&context); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct PacketDeleter {
  void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct SwrContextDeleter {
  void operator()(SwrContext* context) const { swr_free(&context); }
};
struct AvFreeDeleter {
  void operator()(std::uint8_t* memory) const { av_free(memory); }
};
// An AVIOContext from avio_alloc_context: its buffer (which FFmpeg may have replaced) is ours.
struct MemoryIoDeleter {
  void operator()(AVIOContext* io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};

using FormatContext = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContext = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using Frame = std::unique_ptr<AVFrame, FrameDeleter>;
using Packet = std::unique_ptr<AVPacket, PacketDeleter>;
using SwrContextPtr = std::unique_ptr<SwrContext, SwrContextDeleter>;
using IoBuffer = std::unique_ptr<std::uint8_t, AvFreeDeleter>;
using MemoryIo = std::unique_ptr<AVIOContext, MemoryIoDeleter>;

// AVChannelLayout may own a heap-allocated channel map (custom channel order).
class ChannelLayout {
 public:
  ChannelLayout() = default;
  ChannelLayout(const ChannelLayout&) = delete;
  ChannelLayout& operator=(const ChannelLayout&) = delete;
  ~ChannelLayout() { av_channel_layout_uninit(&layout_); }

  // Returns false when FFmpeg cannot copy `other` (out of memory).
  bool assign(const AVChannelLayout& other) {
    return av_channel_layout_copy(&layout_, &other) >= 0;
  }
  [[nodiscard]] bool equals(const AVChannelLayout& other) const {
    return av_channel_layout_compare(&layout_, &other) == 0;
  }

 private:
  AVChannelLayout layout_{};
};

// FFmpeg logs to stderr by default; our callers should see nothing but the Error we throw.
void silence_ffmpeg_logs();
std::string ffmpeg_error_text(int code);

// Every failure names the input: `source` is a quoted path, "<memory buffer>" or "<stdin>".
[[noreturn]] void fail(const std::string& source, const std::string& what);

template <typename T>
T* check_allocated(T* pointer, const std::string& source) {
  if (pointer == nullptr) {
    fail(source, "out of memory");
  }
  return pointer;
}

// An AVIOContext reading through `read` (no seeking when `seek` is null), with our own buffer.
MemoryIo open_callback_io(void* opaque, int (*read)(void*, std::uint8_t*, int),
                          std::int64_t (*seek)(void*, std::int64_t, int),
                          const std::string& source);

// Opens the container on `io`, refusing nested inputs (playlists, external references).
// `live`: the input arrives as it is recorded, so the demuxer must not read ahead for seconds
// to learn what its header already says.
FormatContext open_container(AVIOContext& io, const std::string& name_hint,
                             const std::string& source, bool live = false);

// Picks the stream ffmpeg would, and tells the demuxer to drop the others' packets.
int select_audio_stream(AVFormatContext& format, const std::string& source);

CodecContext open_decoder(const AVStream& stream, const std::string& source);

// Turns decoded frames, whatever their format, rate and channels, into 16 kHz mono (or, with
// `channels` 2, interleaved stereo): as faster-whisper's PyAV path, through signed 16-bit, divided
// by 32768. Frames whose parameters change mid-stream (a chained Ogg, say) get a fresh converter.
class PcmResampler {
 public:
  // Refuses to make more than `max_seconds` of output in all.
  PcmResampler(std::string source, double max_seconds, int channels = 1);

  void push(const AVFrame& frame);
  // The samples made so far, handed over (live decoding takes them as they come).
  Waveform take();
  // Everything, the samples the resampler's filter still holds included.
  Waveform finish();

 private:
  [[nodiscard]] bool matches(const AVFrame& frame) const;
  void configure(const AVFrame& frame);
  int convert(const std::uint8_t** input, int count);
  void drain();

  std::string source_;
  double max_seconds_;
  std::size_t max_samples_;
  int channels_;
  std::size_t made_ = 0;  // output samples made in all (per channel), taken ones included
  SwrContextPtr swr_;
  int input_format_ = AV_SAMPLE_FMT_NONE;
  int input_rate_ = 0;
  ChannelLayout input_layout_;
  std::vector<std::int16_t> buffer_;
  Waveform samples_;
};

// Hands every frame the decoder has ready to `output`.
void receive_frames(AVCodecContext& codec, AVFrame& frame, PcmResampler& output);

}  // namespace amanuensis::audio::ffmpeg
