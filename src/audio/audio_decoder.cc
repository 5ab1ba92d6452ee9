// Decodes any container FFmpeg reads into 16 kHz mono float samples.
//
// The result follows faster-whisper's decode_audio (PyAV): the best audio stream is decoded,
// libswresample mixes it to mono and resamples it to 16 kHz as signed 16-bit, and each sample is
// divided by 32768. Going through 16-bit keeps a 16 kHz mono 16-bit WAV bit-exact and matches the
// rounding faster-whisper's features are computed from.
//
// Both entry points read through an AVIOContext we create ourselves (a file, or a span in memory)
// and forbid the demuxer from opening anything else, so a playlist-style input (HLS, concat, ...)
// cannot make us read other files or URLs.

#include "audio/audio_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libswresample/swresample.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace amanuensis {
namespace {

constexpr int kIoBufferSize = 64 * 1024;
// Scale of the 16-bit intermediate format, as faster-whisper's `/ 32768.0`.
constexpr float kInt16Scale = 32768.0F;
// The highest rate recording hardware uses. The resampler's filter grows with the input rate, so
// a corrupt or hostile header claiming gigahertz would cost gigabytes and seconds to set up.
constexpr int kMaxInputSampleRate = 768000;

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
// An AVIOContext from avio_open2, which closes the file it opened.
struct FileIoDeleter {
  void operator()(AVIOContext* io) const { avio_closep(&io); }
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
using FileIo = std::unique_ptr<AVIOContext, FileIoDeleter>;
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
void silence_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

std::string ffmpeg_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

// Every failure names the input: `source` is a quoted path or "<memory buffer>".
[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error("cannot decode audio from " + source + ": " + what);
}

template <typename T>
T* check_allocated(T* pointer, const std::string& source) {
  if (pointer == nullptr) {
    fail(source, "out of memory");
  }
  return pointer;
}

// Nested inputs (playlist entries, external references) are refused; see the file comment.
int refuse_nested_open(AVFormatContext* /*context*/, AVIOContext** /*io*/, const char* /*url*/,
                       int /*flags*/, AVDictionary** /*options*/) {
  return AVERROR(EPERM);
}

// The read position within a caller's buffer, behind a MemoryIo.
struct MemoryReader {
  std::span<const std::uint8_t> bytes;
  std::int64_t position = 0;
};

int read_memory(void* opaque, std::uint8_t* buffer, int size) {
  auto& reader = *static_cast<MemoryReader*>(opaque);
  const auto remaining = static_cast<std::int64_t>(reader.bytes.size()) - reader.position;
  if (remaining <= 0) {
    return AVERROR_EOF;
  }
  const auto count = static_cast<int>(std::min<std::int64_t>(std::max(size, 0), remaining));
  std::copy_n(reader.bytes.begin() + reader.position, count, buffer);
  reader.position += count;
  return count;
}

std::int64_t seek_memory(void* opaque, std::int64_t offset, int whence) {
  auto& reader = *static_cast<MemoryReader*>(opaque);
  const auto size = static_cast<std::int64_t>(reader.bytes.size());
  if ((whence & AVSEEK_SIZE) != 0) {
    return size;
  }
  std::int64_t base = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = reader.position;
      break;
    case SEEK_END:
      base = size;
      break;
    default:
      return AVERROR(EINVAL);
  }
  // As with a file, any position from 0 on is allowed (reads past the end find EOF); the checks
  // are written so that a hostile offset cannot overflow.
  if (offset < -base || offset > std::numeric_limits<std::int64_t>::max() - base) {
    return AVERROR(EINVAL);
  }
  reader.position = base + offset;
  return reader.position;
}

MemoryIo open_memory_io(MemoryReader& reader, const std::string& source) {
  IoBuffer buffer(static_cast<std::uint8_t*>(check_allocated(av_malloc(kIoBufferSize), source)));
  MemoryIo io(avio_alloc_context(buffer.get(), kIoBufferSize, /*write_flag=*/0, &reader,
                                 &read_memory, /*write_packet=*/nullptr, &seek_memory));
  check_allocated(io.get(), source);
  static_cast<void>(buffer.release());  // now owned by `io`
  return io;
}

FileIo open_file_io(const std::filesystem::path& path, const std::string& source) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    fail(source, "file not found");
  }
  if (error) {
    fail(source, "file cannot be read: " + error.message());
  }
  if (std::filesystem::is_directory(status)) {
    fail(source, "is a directory, not a file");
  }
  // Only a regular file's size is known up front; a pipe, say, can still be read.
  if (std::filesystem::is_regular_file(status) && std::filesystem::file_size(path, error) == 0) {
    fail(source, "file is empty (0 bytes)");
  }
  AVIOContext* opened = nullptr;
  // The "file:" prefix keeps a name such as "http:x.wav" from selecting another protocol.
  const int result = avio_open2(&opened, ("file:" + path.string()).c_str(), AVIO_FLAG_READ,
                                /*int_cb=*/nullptr, /*options=*/nullptr);
  FileIo io(opened);
  if (result < 0) {
    fail(source, "file cannot be read: " + ffmpeg_error_text(result));
  }
  return io;
}

// Probing on its own, before opening, tells data of no known format apart from a known format
// whose header is damaged. `name_hint` (a file name, or empty) lets the extension help.
const AVInputFormat& probe_format(AVIOContext& io, const std::string& name_hint,
                                  const std::string& source) {
  const AVInputFormat* input_format = nullptr;
  const int result = av_probe_input_buffer2(&io, &input_format, name_hint.c_str(),
                                            /*logctx=*/nullptr, /*offset=*/0,
                                            /*max_probe_size=*/0);
  if (result == AVERROR_INVALIDDATA) {
    fail(source, "not a recognised audio or video format");
  }
  if (result < 0 || input_format == nullptr) {
    fail(source, "cannot be read: " + ffmpeg_error_text(result));
  }
  return *input_format;
}

FormatContext open_container(AVIOContext& io, const std::string& name_hint,
                             const std::string& source) {
  const AVInputFormat& input_format = probe_format(io, name_hint, source);
  FormatContext format(check_allocated(avformat_alloc_context(), source));
  format->pb = &io;
  format->io_open = &refuse_nested_open;
  // avformat_open_input frees the context itself when it fails.
  AVFormatContext* handed_over = format.release();
  const int result =
      avformat_open_input(&handed_over, name_hint.c_str(), &input_format, /*options=*/nullptr);
  format.reset(handed_over);
  if (result < 0) {
    fail(source, std::string("corrupt or truncated ") + input_format.name +
                     " data: " + ffmpeg_error_text(result));
  }
  // Failing to probe some streams is not fatal, as for the ffmpeg tool: the audio stream may
  // still decode, and if it does not, decoding reports it.
  static_cast<void>(avformat_find_stream_info(format.get(), nullptr));
  return format;
}

// Picks the stream ffmpeg would, and tells the demuxer to drop the others' packets.
int select_audio_stream(AVFormatContext& format, const std::string& source) {
  const int index = av_find_best_stream(&format, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (index < 0) {
    fail(source, "contains no audio stream");
  }
  for (unsigned i = 0; i < format.nb_streams; ++i) {
    if (static_cast<int>(i) != index) {
      format.streams[i]->discard = AVDISCARD_ALL;
    }
  }
  return index;
}

CodecContext open_decoder(const AVStream& stream, const std::string& source) {
  const AVCodecID codec_id = stream.codecpar->codec_id;
  const AVCodec* decoder = avcodec_find_decoder(codec_id);
  if (decoder == nullptr) {
    fail(source,
         std::string("no decoder for its audio codec (") + avcodec_get_name(codec_id) + ")");
  }
  CodecContext codec(check_allocated(avcodec_alloc_context3(decoder), source));
  int result = avcodec_parameters_to_context(codec.get(), stream.codecpar);
  if (result >= 0) {
    codec->pkt_timebase = stream.time_base;
    result = avcodec_open2(codec.get(), decoder, nullptr);
  }
  if (result < 0) {
    fail(source, std::string("cannot open the ") + decoder->name +
                     " audio decoder: " + ffmpeg_error_text(result));
  }
  return codec;
}

// Turns decoded frames, whatever their format, rate and channels, into the 16 kHz mono output.
// Frames whose parameters change mid-stream (a chained Ogg, say) get a fresh converter.
class MonoResampler {
 public:
  MonoResampler(std::string source, double max_seconds)
      : source_(std::move(source)),
        max_seconds_(max_seconds),
        max_samples_(static_cast<std::size_t>(max_seconds * kSampleRate)) {}

  void push(const AVFrame& frame) {
    if (frame.nb_samples <= 0) {
      return;
    }
    if (!matches(frame)) {
      drain();
      configure(frame);
    }
    // swr_convert takes the input planes as const; FFmpeg's frame does not declare them so.
    convert(const_cast<const std::uint8_t**>(frame.extended_data), frame.nb_samples);
  }

  Waveform finish() {
    drain();
    return std::move(samples_);
  }

 private:
  [[nodiscard]] bool matches(const AVFrame& frame) const {
    return swr_ && frame.format == input_format_ && frame.sample_rate == input_rate_ &&
           input_layout_.equals(frame.ch_layout);
  }

  void configure(const AVFrame& frame) {
    if (frame.sample_rate <= 0 || frame.sample_rate > kMaxInputSampleRate) {
      fail(source_, "unsupported sample rate of " + std::to_string(frame.sample_rate) +
                        " Hz (the limit is " + std::to_string(kMaxInputSampleRate) + " Hz)");
    }
    if (!input_layout_.assign(frame.ch_layout)) {
      fail(source_, "out of memory");
    }
    input_format_ = frame.format;
    input_rate_ = frame.sample_rate;
    // Without a known channel order swr cannot downmix, so assume the usual one for the count.
    AVChannelLayout layout = frame.ch_layout;
    if (layout.order == AV_CHANNEL_ORDER_UNSPEC) {
      av_channel_layout_default(&layout, layout.nb_channels);
    }
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* allocated = nullptr;
    int result = swr_alloc_set_opts2(&allocated, &mono, AV_SAMPLE_FMT_S16, kSampleRate, &layout,
                                     static_cast<AVSampleFormat>(frame.format), frame.sample_rate,
                                     /*log_offset=*/0, /*log_ctx=*/nullptr);
    swr_.reset(allocated);
    if (result >= 0) {
      result = swr_init(swr_.get());
    }
    if (result < 0) {
      fail(source_, "cannot convert its audio (" + std::to_string(layout.nb_channels) +
                        " channels at " + std::to_string(frame.sample_rate) +
                        " Hz): " + ffmpeg_error_text(result));
    }
  }

  // Converts `count` input samples (none: flush what swr holds back); returns samples made.
  int convert(const std::uint8_t** input, int count) {
    // Checked before converting, so that a tiny file claiming a 1 Hz rate cannot make one
    // conversion allocate gigabytes. The bound exceeds the exact count by a few samples only.
    const int bound = swr_get_out_samples(swr_.get(), count);
    if (bound < 0 || static_cast<std::size_t>(bound) > max_samples_ - samples_.size()) {
      fail(source_, "audio is too long: the limit is " + seconds_text(max_seconds_));
    }
    buffer_.resize(static_cast<std::size_t>(bound));
    auto* output = reinterpret_cast<std::uint8_t*>(buffer_.data());
    const int made = swr_convert(swr_.get(), &output, bound, input, count);
    if (made < 0) {
      fail(source_, "resampling failed: " + ffmpeg_error_text(made));
    }
    std::transform(buffer_.begin(), buffer_.begin() + made, std::back_inserter(samples_),
                   [](std::int16_t sample) { return static_cast<float>(sample) / kInt16Scale; });
    return made;
  }

  // Emits the samples the resampler's filter still holds.
  void drain() {
    if (!swr_) {
      return;
    }
    while (convert(nullptr, 0) > 0) {
    }
  }

  std::string source_;
  double max_seconds_;
  std::size_t max_samples_;
  SwrContextPtr swr_;
  int input_format_ = AV_SAMPLE_FMT_NONE;
  int input_rate_ = 0;
  ChannelLayout input_layout_;
  std::vector<std::int16_t> buffer_;
  Waveform samples_;
};

// Hands every frame the decoder has ready to `output`.
void receive_frames(AVCodecContext& codec, AVFrame& frame, MonoResampler& output) {
  // Stops on EAGAIN (needs input), EOF (drained) and decoding errors alike: a damaged packet
  // loses only its own frames.
  while (avcodec_receive_frame(&codec, &frame) >= 0) {
    output.push(frame);
    av_frame_unref(&frame);
  }
}

void decode_stream(AVFormatContext& format, AVCodecContext& codec, int stream,
                   MonoResampler& output, const std::string& source) {
  const Packet packet(check_allocated(av_packet_alloc(), source));
  const Frame frame(check_allocated(av_frame_alloc(), source));
  // A read error ends the stream like EOF does, so a truncated file yields what precedes the cut.
  while (av_read_frame(&format, packet.get()) >= 0) {
    // A packet the decoder rejects is skipped, as the ffmpeg tool does.
    if (packet->stream_index == stream && avcodec_send_packet(&codec, packet.get()) >= 0) {
      receive_frames(codec, *frame, output);
    }
    av_packet_unref(packet.get());
  }
  avcodec_send_packet(&codec, nullptr);  // enter draining mode
  receive_frames(codec, *frame, output);
}

Waveform decode(AVIOContext& io, const std::string& name_hint, const std::string& source,
                double max_seconds) {
  const FormatContext format = open_container(io, name_hint, source);
  const int stream = select_audio_stream(*format, source);
  const CodecContext codec = open_decoder(*format->streams[stream], source);
  MonoResampler output(source, max_seconds);
  decode_stream(*format, *codec, stream, output, source);
  Waveform samples = output.finish();
  if (samples.empty()) {
    fail(source, "contains no decodable audio (corrupt or truncated data)");
  }
  return samples;
}

}  // namespace

Waveform decode_audio_file(const std::filesystem::path& path) {
  silence_ffmpeg_logs();
  const std::string source = '"' + path.string() + '"';
  const FileIo io = open_file_io(path, source);
  return decode(*io, path.string(), source, audio::kMaxDurationSeconds);
}

Waveform decode_audio_bytes(std::span<const std::uint8_t> bytes) {
  return audio::decode_audio_bytes(bytes, audio::kMaxDurationSeconds);
}

Waveform audio::decode_audio_bytes(std::span<const std::uint8_t> bytes,
                                   double max_duration_seconds) {
  silence_ffmpeg_logs();
  const std::string source = "<memory buffer>";
  if (bytes.empty()) {
    fail(source, "input is empty (0 bytes)");
  }
  MemoryReader reader{.bytes = bytes};
  const MemoryIo io = open_memory_io(reader, source);
  return decode(*io, "", source, max_duration_seconds);
}

}  // namespace amanuensis
