#include "realtime/audio_input.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>

namespace amanuensis::realtime {

namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0-63 for alphabet characters, -1 for anything else.
const std::array<int, 256>& base64_values() {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i) {
      t[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int>(i);
    }
    return t;
  }();
  return table;
}

// Zeroth-order modified Bessel function of the first kind (the Kaiser window), by its series.
double bessel_i0(double x) {
  double sum = 1.0;
  double term = 1.0;
  for (int k = 1; k < 50 && term > 1e-12 * sum; ++k) {
    term *= (x / (2.0 * k)) * (x / (2.0 * k));
    sum += term;
  }
  return sum;
}

// Windowed-sinc low-pass at the upsampled rate, its DC gain `gain`. Kaiser beta 8.6: about
// 85 dB of stopband attenuation, so nothing above the new Nyquist comes back as audible aliases.
std::vector<float> design_low_pass(double cutoff_fraction, int taps, double gain) {
  constexpr double kBeta = 8.6;
  std::vector<double> h(static_cast<std::size_t>(taps));
  const double middle = (taps - 1) / 2.0;
  double sum = 0.0;
  for (int k = 0; k < taps; ++k) {
    const double t = k - middle;
    const double x = 2.0 * cutoff_fraction * t;
    const double sinc = t == 0.0 ? 1.0 : std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
    const double r = t / middle;
    const double window =
        bessel_i0(kBeta * std::sqrt(std::max(0.0, 1.0 - r * r))) / bessel_i0(kBeta);
    h[k] = sinc * window;
    sum += h[k];
  }
  std::vector<float> filter(h.size());
  for (std::size_t k = 0; k < h.size(); ++k) filter[k] = static_cast<float>(h[k] * gain / sum);
  return filter;
}

PolyphaseResampler resampler_for(AudioFormat format) {
  // 24 kHz -> 16 kHz: up 2, down 3, pass to 7.5 kHz. 8 kHz -> 16 kHz: up 2, pass to 3.8 kHz
  // (G.711 carries nothing above about 3.4 kHz). A 1 kHz transition band at 48 kHz and 0.4 kHz
  // at 16 kHz take about 240 taps.
  if (format == AudioFormat::kPcm16At24k) return {2, 3, 24000.0, 7500.0, 241};
  return {2, 1, 8000.0, 3800.0, 241};
}

}  // namespace

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  const auto& values = base64_values();
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const bool pad = last && j >= 4 - padding;
      const int v = pad ? 0 : values[static_cast<unsigned char>(text[i + j])];
      if (v < 0) return std::nullopt;  // a stray character, or '=' before the end
      group = group << 6 | static_cast<std::uint32_t>(v);
    }
    const std::size_t bytes = last ? 3 - padding : 3;
    for (std::size_t b = 0; b < bytes; ++b) {
      out.push_back(static_cast<std::uint8_t>(group >> (16 - 8 * b)));
    }
  }
  return out;
}

std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t b = 0; b < 3; ++b) group = group << 8 | (b < n ? bytes[i + b] : 0U);
    for (std::size_t c = 0; c < 4; ++c) {
      out += c <= n ? kBase64Alphabet[(group >> (18 - 6 * c)) & 63U] : '=';
    }
  }
  return out;
}

std::int16_t mulaw_to_linear(std::uint8_t code) {
  const unsigned u = ~code & 0xFFU;
  const unsigned exponent = (u >> 4) & 7U;
  const int magnitude = static_cast<int>((((u & 0x0FU) << 3) + 0x84U) << exponent) - 0x84;
  return static_cast<std::int16_t>((u & 0x80U) != 0 ? -magnitude : magnitude);
}

std::int16_t alaw_to_linear(std::uint8_t code) {
  const unsigned a = code ^ 0x55U;
  const unsigned exponent = (a >> 4) & 7U;
  const unsigned mantissa = a & 0x0FU;
  const int magnitude = static_cast<int>(
      exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108U) << (exponent - 1));
  // A-law's sign bit set means positive, unlike mu-law's.
  return static_cast<std::int16_t>((a & 0x80U) != 0 ? magnitude : -magnitude);
}

PolyphaseResampler::PolyphaseResampler(int up, int down, double rate_in, double cutoff_hz, int taps)
    : up_(up),
      down_(down),
      delay_((taps - 1) / 2),
      filter_(design_low_pass(cutoff_hz / (rate_in * up), taps, up)) {}

std::vector<float> PolyphaseResampler::push(std::span<const float> input) {
  history_.insert(history_.end(), input.begin(), input.end());
  const std::int64_t total = history_start_ + static_cast<std::int64_t>(history_.size());
  const auto taps = static_cast<std::int64_t>(filter_.size());
  std::vector<float> out;
  out.reserve(input.size() * up_ / down_ + 1);
  while (true) {
    // Output n sits at upsampled index j0 = n down + delay; the upsampled signal is non-zero
    // only at multiples of `up`, input index j / up.
    const std::int64_t j0 = next_output_ * down_ + delay_;
    if (j0 / up_ >= total) break;
    float sum = 0.0F;
    for (std::int64_t k = j0 % up_; k < taps && k <= j0; k += up_) {
      const std::int64_t index = (j0 - k) / up_;
      if (index < history_start_) break;  // before the first sample: zeros
      sum += filter_[k] * history_[index - history_start_];
    }
    out.push_back(sum);
    ++next_output_;
  }
  // Keep only what the next output can reach.
  const std::int64_t oldest =
      std::max<std::int64_t>(history_start_, (next_output_ * down_ + delay_ - (taps - 1)) / up_);
  history_.erase(history_.begin(), history_.begin() + (oldest - history_start_));
  history_start_ = oldest;
  return out;
}

void PolyphaseResampler::reset() {
  history_.clear();
  history_start_ = 0;
  next_output_ = 0;
}

AudioInput::AudioInput(AudioFormat format) : format_(format), resampler_(resampler_for(format)) {}

std::vector<float> AudioInput::push(std::span<const std::uint8_t> bytes) {
  std::vector<float> samples;
  if (format_ == AudioFormat::kPcm16At24k) {
    samples.reserve((bytes.size() + 1) / 2);
    std::size_t i = 0;
    if (odd_byte_ && !bytes.empty()) {
      samples.push_back(static_cast<float>(static_cast<std::int16_t>(*odd_byte_ | bytes[0] << 8)) /
                        32768.0F);
      odd_byte_.reset();
      i = 1;
    }
    for (; i + 1 < bytes.size(); i += 2) {
      samples.push_back(
          static_cast<float>(static_cast<std::int16_t>(bytes[i] | bytes[i + 1] << 8)) / 32768.0F);
    }
    if (i < bytes.size()) odd_byte_ = bytes[i];
  } else {
    const auto expand = format_ == AudioFormat::kPcmu ? mulaw_to_linear : alaw_to_linear;
    samples.reserve(bytes.size());
    for (const auto b : bytes) samples.push_back(static_cast<float>(expand(b)) / 32768.0F);
  }
  return resampler_.push(samples);
}

void AudioInput::reset() {
  resampler_.reset();
  odd_byte_.reset();
}

}  // namespace amanuensis::realtime
