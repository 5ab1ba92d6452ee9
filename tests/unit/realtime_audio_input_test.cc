// Client audio: strict base64, G.711 expansion against the ITU tables (values as Python's
// audioop gives them), and the resamplers: a sine keeps its amplitude and frequency, what lies
// above the new Nyquist frequency is removed, and the split into chunks changes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "realtime/audio_input.h"

namespace amanuensis::realtime {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

TEST(RealtimeBase64Test, DecodesStrictly) {
  EXPECT_EQ(decode_base64(""), std::vector<std::uint8_t>{});
  EXPECT_EQ(decode_base64("TWFu"), bytes_of("Man"));
  EXPECT_EQ(decode_base64("TWE="), bytes_of("Ma"));
  EXPECT_EQ(decode_base64("TQ=="), bytes_of("M"));
  EXPECT_EQ(decode_base64("+/+/"), (std::vector<std::uint8_t>{0xFB, 0xFF, 0xBF}));
  for (const char* bad :
       {"TWF", "TW=u", "T===", "====", "TQ==TWFu", "TW Fu", "TWFu\n", "TWF-", "TWF_", "TQ=\x00"}) {
    EXPECT_FALSE(decode_base64(bad).has_value()) << bad;
  }
}

TEST(RealtimeBase64Test, RoundTrips) {
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  for (std::size_t n = 0; n < 10; ++n) {
    const std::vector<std::uint8_t> part(all.begin(), all.begin() + n);
    EXPECT_EQ(decode_base64(encode_base64(part)), part);
  }
  EXPECT_EQ(decode_base64(encode_base64(all)), all);
  EXPECT_EQ(encode_base64(bytes_of("Ma")), "TWE=");
}

TEST(RealtimeG711Test, MatchesTheStandardTables) {
  EXPECT_EQ(mulaw_to_linear(0x00), -32124);
  EXPECT_EQ(mulaw_to_linear(0x7F), 0);
  EXPECT_EQ(mulaw_to_linear(0x80), 32124);
  EXPECT_EQ(mulaw_to_linear(0xFF), 0);
  EXPECT_EQ(mulaw_to_linear(0x3C), -2364);
  EXPECT_EQ(mulaw_to_linear(0xA5), 6652);
  EXPECT_EQ(alaw_to_linear(0x00), -5504);
  EXPECT_EQ(alaw_to_linear(0x55), -8);
  EXPECT_EQ(alaw_to_linear(0xD5), 8);
  EXPECT_EQ(alaw_to_linear(0xAA), 32256);
  EXPECT_EQ(alaw_to_linear(0x2A), -32256);
  EXPECT_EQ(alaw_to_linear(0x80), 5504);
  EXPECT_EQ(alaw_to_linear(0x13), -2880);
}

std::vector<float> sine(double hz, double rate, int n, double amplitude = 0.5) {
  std::vector<float> s(n);
  for (int i = 0; i < n; ++i)
    s[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hz * i / rate));
  return s;
}

// Amplitude of the `hz` component of `x` at `rate` (least squares over the middle, away from the
// filter's start-up).
double amplitude_at(const std::vector<float>& x, double hz, double rate) {
  double c = 0;
  double s = 0;
  const std::size_t from = x.size() / 4;
  const std::size_t to = x.size() * 3 / 4;
  for (std::size_t i = from; i < to; ++i) {
    c += x[i] * std::cos(2 * std::numbers::pi * hz * i / rate);
    s += x[i] * std::sin(2 * std::numbers::pi * hz * i / rate);
  }
  return 2 * std::hypot(c, s) / static_cast<double>(to - from);
}

std::vector<std::uint8_t> pcm16(const std::vector<float>& x) {
  std::vector<std::uint8_t> out;
  for (const float v : x) {
    const auto s = static_cast<std::int16_t>(std::lround(v * 32767));
    out.push_back(static_cast<std::uint8_t>(s & 0xFF));
    out.push_back(static_cast<std::uint8_t>((s >> 8) & 0xFF));
  }
  return out;
}

TEST(RealtimeAudioInputTest, Pcm24kSineKeepsAmplitudeAndFrequency) {
  AudioInput input(AudioFormat::kPcm16At24k);
  const auto out = input.push(pcm16(sine(1000, 24000, 24000)));
  ASSERT_NEAR(static_cast<double>(out.size()), 16000, 64);  // the filter's look-ahead waits
  EXPECT_NEAR(amplitude_at(out, 1000, 16000), 0.5, 0.005);
  EXPECT_LT(amplitude_at(out, 1500, 16000), 0.005);  // and no other frequency
  // Output sample n is input time 1.5 n: aligned with the input, no delay.
  const auto expected = sine(1000, 16000, 16000);
  for (int i = 8000; i < 8010; ++i) EXPECT_NEAR(out[i], expected[i], 0.01) << i;
}

TEST(RealtimeAudioInputTest, Pcm24kRemovesWhatWouldAlias) {
  AudioInput input(AudioFormat::kPcm16At24k);
  // 10 kHz is above 16 kHz's Nyquist frequency; unfiltered it would fold to 6 kHz.
  const auto out = input.push(pcm16(sine(10000, 24000, 24000)));
  EXPECT_LT(amplitude_at(out, 6000, 16000), 0.5 * 1e-3);  // over 60 dB down
}

TEST(RealtimeAudioInputTest, ChunkingChangesNothing) {
  const auto bytes = pcm16(sine(440, 24000, 12000, 0.3));
  AudioInput whole(AudioFormat::kPcm16At24k);
  const auto expected = whole.push(bytes);
  AudioInput chunked(AudioFormat::kPcm16At24k);
  std::vector<float> got;
  const std::size_t sizes[] = {1, 3, 960, 7, 2, 4001};  // odd sizes split samples
  for (std::size_t at = 0, i = 0; at < bytes.size(); ++i) {
    const std::size_t n = std::min(sizes[i % std::size(sizes)], bytes.size() - at);
    const auto part = chunked.push(std::span(bytes).subspan(at, n));
    got.insert(got.end(), part.begin(), part.end());
    at += n;
  }
  EXPECT_EQ(got, expected);
}

TEST(RealtimeAudioInputTest, G711At8kUpsamplesTo16k) {
  // A 1 kHz sine as mu-law codes: find the code nearest each sample through the decoder.
  std::vector<std::uint8_t> codes;
  for (const float v : sine(1000, 8000, 8000, 0.4)) {
    int best = 0;
    for (int c = 0; c < 256; ++c) {
      if (std::abs(mulaw_to_linear(c) / 32768.0 - v) <
          std::abs(mulaw_to_linear(best) / 32768.0 - v))
        best = c;
    }
    codes.push_back(static_cast<std::uint8_t>(best));
  }
  AudioInput input(AudioFormat::kPcmu);
  const auto out = input.push(codes);
  ASSERT_NEAR(static_cast<double>(out.size()), 16000, 128);
  EXPECT_NEAR(amplitude_at(out, 1000, 16000), 0.4, 0.01);
  EXPECT_LT(amplitude_at(out, 7000, 16000), 0.002);  // the image of 1 kHz at 8 kHz - 1 kHz
  AudioInput alaw(AudioFormat::kPcma);
  EXPECT_EQ(alaw.push(std::vector<std::uint8_t>(800, 0xD5)).size() > 1000, true);
}

TEST(RealtimeAudioInputTest, ResetForgetsHistory) {
  const auto bytes = pcm16(sine(440, 24000, 2400));
  AudioInput input(AudioFormat::kPcm16At24k);
  const auto first = input.push(bytes);
  input.push(std::vector<std::uint8_t>{1});  // an odd byte waits
  input.reset();
  EXPECT_EQ(input.push(bytes), first);
}

}  // namespace
}  // namespace amanuensis::realtime
