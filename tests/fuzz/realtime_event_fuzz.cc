// libFuzzer target: bytes -> the realtime client event parser, then the same bytes, split at
// newlines, as the messages of a whole RealtimeSession (manual or server_vad turns, appends,
// commits, clears, session updates) with a stand-in decoder and VAD, decodes run inline.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "realtime/events.h"
#include "realtime/session.h"

// The engine, stubbed: the realtime library reaches it only through amanuensis.h. The VAD calls a
// 32 ms window speech when its mean magnitude passes 0.05, which appends of loud bytes reach.
namespace amanuensis {
Transcription Model::transcribe(std::span<const float>, const TranscribeOptions&,
                                const SegmentCallback&, std::stop_token,
                                const InfoCallback&) const {
  __builtin_trap();
}
struct VadStream::Impl {
  std::vector<float> pending;
  std::int64_t windows = 0;
};
VadStream::VadStream(const std::filesystem::path&) : impl_(std::make_unique<Impl>()) {}
VadStream::~VadStream() = default;
VadStream::VadStream(VadStream&&) noexcept = default;
VadStream& VadStream::operator=(VadStream&&) noexcept = default;
std::vector<float> VadStream::push(std::span<const float> audio) {
  impl_->pending.insert(impl_->pending.end(), audio.begin(), audio.end());
  std::vector<float> probs;
  std::size_t at = 0;
  for (; at + 512 <= impl_->pending.size(); at += 512) {
    float sum = 0;
    for (std::size_t i = at; i < at + 512; ++i) sum += std::abs(impl_->pending[i]);
    probs.push_back(sum / 512 > 0.05F ? 0.9F : 0.1F);
  }
  impl_->pending.erase(impl_->pending.begin(),
                       impl_->pending.begin() + static_cast<std::ptrdiff_t>(at));
  impl_->windows += static_cast<std::int64_t>(probs.size());
  return probs;
}
void VadStream::reset() { *impl_ = Impl{}; }
std::int64_t VadStream::windows() const { return impl_->windows; }
}  // namespace amanuensis

namespace {

using amanuensis::realtime::RealtimeSession;
using amanuensis::realtime::RealtimeSessionConfig;

// One word per 100 ms of audio: deltas and transcripts grow with the turn.
std::vector<amanuensis::Segment> fake_decode(std::span<const float> audio,
                                             const amanuensis::TranscribeOptions&,
                                             std::stop_token) {
  amanuensis::Segment s;
  for (std::size_t i = 0; i < audio.size() / 1600 && i < 64; ++i)
    s.text += " w" + std::to_string(i);
  return {s};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)amanuensis::realtime::parse_client_event(text);

  RealtimeSessionConfig config;
  config.decode = fake_decode;
  config.executor = [](const std::function<void()>& task) { task(); };
  std::size_t sent = 0;
  config.send = [&](const std::string& event) { sent += event.size(); };
  config.live.max_buffered_seconds = 5;
  config.live.partial_interval_seconds = 0.2;
  config.parse_limits.max_event_bytes = 1 << 16;
  RealtimeSession session(std::move(config));
  std::size_t start = 0;
  for (int messages = 0; start <= text.size() && messages < 64; ++messages) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    session.on_message(text.substr(start, end - start));
    start = end + 1;
  }
  session.wait_idle();
  return 0;
}
