#include "audio/ffmpeg_input.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
}

#include <algorithm>
#include <iterator>
#include <mutex>
#include <sstream>
#include <utility>

namespace amanuensis::audio::ffmpeg {

namespace {

// Scale of the 16-bit intermediate format, as faster-whisper's `/ 32768.0`.
constexpr float kInt16Scale = 32768.0F;
// The highest rate recording hardware uses. The resampler's filter grows with the input rate, so
// a corrupt or hostile header claiming gigahertz would cost gigabytes and seconds to set up.
constexpr int kMaxInputSampleRate = 768000;
// Live input: probe at most this much, and analyse at most this long, before decoding.
constexpr int kLiveProbeBytes = 32 * 1024;
constexpr std::int64_t kLiveAnalyzeMicroseconds = 100'000;

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

// Nested inputs (playlist entries, external references) are refused; see the header.
int refuse_nested_open(AVFormatContext* /*context*/, AVIOContext** /*io*/, const char* /*url*/,
                       int /*flags*/, AVDictionary** /*options*/) {
  return AVERROR(EPERM);
}

}  // namespace

void silence_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

std::string ffmpeg_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

void fail(const std::string& source, const std::string& what) {
  throw Error("cannot decode audio from " + source + ": " + what);
}

MemoryIo open_callback_io(void* opaque, int (*read)(void*, std::uint8_t*, int),
                          std::int64_t (*seek)(void*, std::int64_t, int),
                          const std::string& source) {
  IoBuffer buffer(static_cast<std::uint8_t*>(check_allocated(av_malloc(kIoBufferSize), source)));
  MemoryIo io(avio_alloc_context(buffer.get(), kIoBufferSize, /*write_flag=*/0, opaque, read,
                                 /*write_packet=*/nullptr, seek));
  check_allocated(io.get(), source);
  static_cast<void>(buffer.release());  // now owned by `io`
  if (seek == nullptr) io->seekable = 0;
  return io;
}

// Probing on its own, before opening, tells data of no known format apart from a known format
// whose header is damaged. `name_hint` (a file name, or empty) lets the extension help.
namespace {

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

}  // namespace

FormatContext open_container(AVIOContext& io, const std::string& name_hint,
                             const std::string& source, bool live) {
  const AVInputFormat& input_format = probe_format(io, name_hint, source);
  FormatContext format(check_allocated(avformat_alloc_context(), source));
  format->pb = &io;
  format->io_open = &refuse_nested_open;
  if (live) {
    // A recording's header tells the codec; reading seconds ahead to confirm it would delay
    // the first words by as much.
    format->probesize = kLiveProbeBytes;
    format->max_analyze_duration = kLiveAnalyzeMicroseconds;
    // Not AVFMT_FLAG_NOBUFFER: the packets avformat_find_stream_info reads would be lost.
  }
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

PcmResampler::PcmResampler(std::string source, double max_seconds, int channels)
    : source_(std::move(source)),
      max_seconds_(max_seconds),
      max_samples_(static_cast<std::size_t>(max_seconds * kSampleRate)),
      channels_(channels) {}

void PcmResampler::push(const AVFrame& frame) {
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

Waveform PcmResampler::take() { return std::exchange(samples_, {}); }

Waveform PcmResampler::finish() {
  drain();
  return take();
}

bool PcmResampler::matches(const AVFrame& frame) const {
  return swr_ && frame.format == input_format_ && frame.sample_rate == input_rate_ &&
         input_layout_.equals(frame.ch_layout);
}

void PcmResampler::configure(const AVFrame& frame) {
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
  AVChannelLayout out_layout{};
  av_channel_layout_default(&out_layout, channels_ == 2 ? 2 : 1);
  SwrContext* allocated = nullptr;
  int result = swr_alloc_set_opts2(&allocated, &out_layout, AV_SAMPLE_FMT_S16, kSampleRate, &layout,
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
int PcmResampler::convert(const std::uint8_t** input, int count) {
  // Checked before converting, so that a tiny file claiming a 1 Hz rate cannot make one
  // conversion allocate gigabytes. The bound exceeds the exact count by a few samples only.
  const int bound = swr_get_out_samples(swr_.get(), count);
  if (bound < 0 || static_cast<std::size_t>(bound) > max_samples_ - made_) {
    fail(source_, "audio is too long: the limit is " + seconds_text(max_seconds_));
  }
  buffer_.resize(static_cast<std::size_t>(bound) * channels_);
  auto* output = reinterpret_cast<std::uint8_t*>(buffer_.data());
  const int made = swr_convert(swr_.get(), &output, bound, input, count);
  if (made < 0) {
    fail(source_, "resampling failed: " + ffmpeg_error_text(made));
  }
  made_ += static_cast<std::size_t>(made);
  std::transform(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(made) * channels_,
                 std::back_inserter(samples_),
                 [](std::int16_t sample) { return static_cast<float>(sample) / kInt16Scale; });
  return made;
}

// Emits the samples the resampler's filter still holds.
void PcmResampler::drain() {
  if (!swr_) {
    return;
  }
  while (convert(nullptr, 0) > 0) {
  }
}

// Hands every frame the decoder has ready to `output`.
void receive_frames(AVCodecContext& codec, AVFrame& frame, PcmResampler& output) {
  // Stops on EAGAIN (needs input), EOF (drained) and decoding errors alike: a damaged packet
  // loses only its own frames.
  while (avcodec_receive_frame(&codec, &frame) >= 0) {
    output.push(frame);
    av_frame_unref(&frame);
  }
}

}  // namespace amanuensis::audio::ffmpeg
