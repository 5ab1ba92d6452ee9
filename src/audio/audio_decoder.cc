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

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>

#include "audio/ffmpeg_input.h"

namespace amanuensis {
namespace {

using namespace audio::ffmpeg;  // NOLINT(google-build-using-namespace): this file's toolkit

// An AVIOContext from avio_open2, which closes the file it opened.
struct FileIoDeleter {
  void operator()(AVIOContext* io) const { avio_closep(&io); }
};
using FileIo = std::unique_ptr<AVIOContext, FileIoDeleter>;

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
  return open_callback_io(&reader, &read_memory, &seek_memory, source);
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

void decode_stream(AVFormatContext& format, AVCodecContext& codec, int stream, PcmResampler& output,
                   const std::string& source) {
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

// Mono, or with `channels` 2 interleaved stereo.
Waveform decode(AVIOContext& io, const std::string& name_hint, const std::string& source,
                double max_seconds, int channels = 1) {
  const FormatContext format = open_container(io, name_hint, source);
  const int stream = select_audio_stream(*format, source);
  const CodecContext codec = open_decoder(*format->streams[stream], source);
  PcmResampler output(source, max_seconds, channels);
  decode_stream(*format, *codec, stream, output, source);
  Waveform samples = output.finish();
  if (samples.empty()) {
    fail(source, "contains no decodable audio (corrupt or truncated data)");
  }
  return samples;
}

StereoWaveform split_channels(const Waveform& interleaved) {
  StereoWaveform stereo;
  const std::size_t frames = interleaved.size() / 2;
  stereo.left.resize(frames);
  stereo.right.resize(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    stereo.left[i] = interleaved[2 * i];
    stereo.right[i] = interleaved[2 * i + 1];
  }
  return stereo;
}

Waveform decode_file(const std::filesystem::path& path, int channels) {
  silence_ffmpeg_logs();
  const std::string source = '"' + path.string() + '"';
  const FileIo io = open_file_io(path, source);
  return decode(*io, path.string(), source, audio::kMaxDurationSeconds, channels);
}

Waveform decode_memory(std::span<const std::uint8_t> bytes, double max_seconds, int channels) {
  silence_ffmpeg_logs();
  const std::string source = "<memory buffer>";
  if (bytes.empty()) {
    fail(source, "input is empty (0 bytes)");
  }
  MemoryReader reader{.bytes = bytes};
  const MemoryIo io = open_memory_io(reader, source);
  return decode(*io, "", source, max_seconds, channels);
}

}  // namespace

StereoWaveform decode_audio_file_stereo(const std::filesystem::path& path) {
  return split_channels(decode_file(path, 2));
}

StereoWaveform decode_audio_bytes_stereo(std::span<const std::uint8_t> bytes) {
  return split_channels(decode_memory(bytes, audio::kMaxDurationSeconds, 2));
}

Waveform decode_audio_file(const std::filesystem::path& path) { return decode_file(path, 1); }

Waveform decode_audio_bytes(std::span<const std::uint8_t> bytes) {
  return audio::decode_audio_bytes(bytes, audio::kMaxDurationSeconds);
}

Waveform audio::decode_audio_bytes(std::span<const std::uint8_t> bytes,
                                   double max_duration_seconds) {
  return decode_memory(bytes, max_duration_seconds, 1);
}

}  // namespace amanuensis
