// Client audio of a realtime session, as it arrives in input_audio_buffer.append events: base64
// text -> bytes -> 16 kHz float samples, from 24 kHz PCM16 or 8 kHz G.711 (mu-law, A-law).
// Resampling is stateful, so that any split of the stream into appends gives the same samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::realtime {

// The formats a transcription session accepts (OpenAI: audio/pcm at 24 kHz, audio/pcmu,
// audio/pcma; beta names pcm16, g711_ulaw, g711_alaw).
enum class AudioFormat { kPcm16At24k, kPcmu, kPcma };

// Strict RFC 4648 base64 (standard alphabet, '=' padding to a multiple of 4, no whitespace);
// nullopt for anything else, so that a corrupt append is reported instead of half played.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);
std::string encode_base64(std::span<const std::uint8_t> bytes);

// G.711 (ITU-T) sample expansion to 16-bit linear.
std::int16_t mulaw_to_linear(std::uint8_t code);
std::int16_t alaw_to_linear(std::uint8_t code);

// Rational resampling by L/M with a Kaiser-windowed sinc low-pass, evaluated polyphase (only the
// taps that meet non-zero upsampled input). Output sample n is aligned with input time n M / L
// (the filter's delay is compensated), so each output waits for about half a filter of later
// input. Keeps its history across calls: chunk boundaries leave no trace.
class PolyphaseResampler {
 public:
  // `cutoff_hz` and `rate_in` in Hz; taps: the filter's length at the upsampled rate (odd).
  PolyphaseResampler(int up, int down, double rate_in, double cutoff_hz, int taps);

  // Appends input samples; returns every output sample now computable.
  std::vector<float> push(std::span<const float> input);
  void reset();

 private:
  int up_;
  int down_;
  int delay_;                   // (taps - 1) / 2, at the upsampled rate
  std::vector<float> filter_;   // scaled by `up_`, so that the passband gain is 1
  std::vector<float> history_;  // input samples from absolute index `history_start_` on
  std::int64_t history_start_ = 0;
  std::int64_t next_output_ = 0;
};

// Bytes of one format -> 16 kHz float samples in [-1, 1]. An odd byte of PCM16 waits for its
// pair in the next chunk.
class AudioInput {
 public:
  explicit AudioInput(AudioFormat format);

  std::vector<float> push(std::span<const std::uint8_t> bytes);
  void reset();
  [[nodiscard]] AudioFormat format() const { return format_; }

 private:
  AudioFormat format_;
  PolyphaseResampler resampler_;
  std::optional<std::uint8_t> odd_byte_;
};

}  // namespace amanuensis::realtime
