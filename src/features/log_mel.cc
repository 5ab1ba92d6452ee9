#include "features/log_mel.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>

#include "amanuensis/amanuensis.h"

namespace amanuensis::features {

namespace {

constexpr int kBins = kFftSize / 2 + 1;
// Frames transformed per matrix product: bounds memory for hour-long audio.
constexpr int kFramesPerBlock = 2048;

// Whisper's scaling of log10 energies whose maximum is `ceiling`: floored 8 below it, then
// (x + 4) / 4.
void scale_features(std::span<float> values, float ceiling) {
  for (float& v : values) v = (std::max(v, ceiling - 8.0F) + 4.0F) / 4.0F;
}

// numpy's "reflect" padding, applied as often as needed for very short inputs.
std::size_t reflect_index(std::ptrdiff_t i, std::ptrdiff_t n) {
  if (n == 1) return 0;
  const std::ptrdiff_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return static_cast<std::size_t>(i < n ? i : period - i);
}

// Rows 0..200 hold the cosines and rows 201..401 the sines of the real DFT, with the periodic
// Hann window folded in, so that one matrix product turns frames into spectra.
std::vector<float> windowed_dft_basis() {
  std::vector<float> basis(static_cast<std::size_t>(2 * kBins) * kFftSize);
  for (int n = 0; n < kFftSize; ++n) {
    const double hann = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / kFftSize);
    for (int k = 0; k < kBins; ++k) {
      // Reduce k*n modulo the size first so the angle stays small and exact.
      const double angle =
          2.0 * std::numbers::pi * static_cast<double>((k * n) % kFftSize) / kFftSize;
      basis[static_cast<std::size_t>(k) * kFftSize + n] =
          static_cast<float>(hann * std::cos(angle));
      basis[static_cast<std::size_t>(kBins + k) * kFftSize + n] =
          static_cast<float>(-hann * std::sin(angle));
    }
  }
  return basis;
}

}  // namespace

std::vector<float> mel_filters(int n_mels) {
  constexpr double kSampleRate = 16000.0;
  constexpr double kMinLogHz = 1000.0;
  constexpr double kLinearSpacing = 200.0 / 3.0;  // Hz per mel below 1 kHz
  const double min_log_mel = kMinLogHz / kLinearSpacing;
  const double log_step = std::log(6.4) / 27.0;
  constexpr double kMaxMel = 45.245640471924965;  // mel of 8 kHz on the Slaney scale

  std::vector<double> hz(n_mels + 2);
  for (int i = 0; i < n_mels + 2; ++i) {
    const double mel = kMaxMel * i / (n_mels + 1);
    hz[i] = mel >= min_log_mel ? kMinLogHz * std::exp(log_step * (mel - min_log_mel))
                               : kLinearSpacing * mel;
  }
  std::vector<float> filters(static_cast<std::size_t>(n_mels) * kBins);
  for (int m = 0; m < n_mels; ++m) {
    const double norm = 2.0 / (hz[m + 2] - hz[m]);
    for (int k = 0; k < kBins; ++k) {
      const double frequency = k * kSampleRate / kFftSize;
      const double lower = (frequency - hz[m]) / (hz[m + 1] - hz[m]);
      const double upper = (hz[m + 2] - frequency) / (hz[m + 2] - hz[m + 1]);
      filters[static_cast<std::size_t>(m) * kBins + k] =
          static_cast<float>(std::max(0.0, std::min(lower, upper)) * norm);
    }
  }
  return filters;
}

LogMel compute_log_mel(std::span<const float> audio, int n_mels, kernels::Backend& backend,
                       Floor floor) {
  if (audio.empty()) throw Error("cannot compute features of empty audio");
  static const std::vector<float> basis = windowed_dft_basis();
  const auto filters = mel_filters(n_mels);

  // faster-whisper appends one hop of zeros, centres frames with reflect padding of n_fft/2 and
  // drops the last STFT frame: that leaves padded_length / hop frames.
  const auto padded_length = static_cast<std::ptrdiff_t>(audio.size()) + kHopLength;
  const int n_frames = static_cast<int>(padded_length / kHopLength);
  const auto sample = [&](std::ptrdiff_t i) -> float {
    const std::size_t j = reflect_index(i - kFftSize / 2, padded_length);
    return j < audio.size() ? audio[j] : 0.0F;
  };

  LogMel mel{n_mels, n_frames, std::vector<float>(static_cast<std::size_t>(n_mels) * n_frames),
             floor};
  std::vector<float> frames(static_cast<std::size_t>(kFramesPerBlock) * kFftSize);
  std::vector<float> spectrum(static_cast<std::size_t>(kFramesPerBlock) * 2 * kBins);
  std::vector<float> power(static_cast<std::size_t>(kFramesPerBlock) * kBins);
  std::vector<float> energies(static_cast<std::size_t>(kFramesPerBlock) * n_mels);
  for (int first = 0; first < n_frames; first += kFramesPerBlock) {
    const int count = std::min(kFramesPerBlock, n_frames - first);
    for (int f = 0; f < count; ++f) {
      const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(first + f) * kHopLength;
      for (int n = 0; n < kFftSize; ++n)
        frames[static_cast<std::size_t>(f) * kFftSize + n] = sample(start + n);
    }
    backend.matmul({frames.data(), count, kFftSize, kFftSize},
                   {basis.data(), 2 * kBins, kFftSize, kFftSize}, /*transpose_b=*/true, 1.0F, 0.0F,
                   {spectrum.data(), count, 2 * kBins, 2 * kBins});
    for (int f = 0; f < count; ++f) {
      const float* row = spectrum.data() + static_cast<std::size_t>(f) * 2 * kBins;
      for (int k = 0; k < kBins; ++k) {
        power[static_cast<std::size_t>(f) * kBins + k] =
            row[k] * row[k] + row[kBins + k] * row[kBins + k];
      }
    }
    backend.matmul({power.data(), count, kBins, kBins}, {filters.data(), n_mels, kBins, kBins},
                   /*transpose_b=*/true, 1.0F, 0.0F, {energies.data(), count, n_mels, n_mels});
    for (int f = 0; f < count; ++f) {
      for (int m = 0; m < n_mels; ++m) {
        const float energy = std::max(energies[static_cast<std::size_t>(f) * n_mels + m], 1e-10F);
        mel.values[static_cast<std::size_t>(m) * n_frames + first + f] = std::log10(energy);
      }
    }
  }
  if (floor == Floor::kRecording)
    scale_features(mel.values, *std::max_element(mel.values.begin(), mel.values.end()));
  return mel;
}

std::vector<float> window(const LogMel& mel, int start, int count, int window_frames) {
  std::vector<float> out(static_cast<std::size_t>(mel.n_mels) * window_frames, 0.0F);
  const int copied = std::max(0, std::min({count, window_frames, mel.n_frames - start}));
  for (int m = 0; m < mel.n_mels; ++m) {
    const auto source = mel.values.begin() + static_cast<std::ptrdiff_t>(m) * mel.n_frames + start;
    std::copy(source, source + copied,
              out.begin() + static_cast<std::ptrdiff_t>(m) * window_frames);
  }
  if (mel.floor == Floor::kEachWindow && copied > 0) {
    float ceiling = -std::numeric_limits<float>::infinity();
    for (int m = 0; m < mel.n_mels; ++m) {
      const auto row = out.begin() + static_cast<std::ptrdiff_t>(m) * window_frames;
      ceiling = std::max(ceiling, *std::max_element(row, row + copied));
    }
    for (int m = 0; m < mel.n_mels; ++m) {
      scale_features({out.data() + static_cast<std::size_t>(m) * window_frames,
                      static_cast<std::size_t>(copied)},
                     ceiling);
    }
  }
  return out;
}

}  // namespace amanuensis::features
