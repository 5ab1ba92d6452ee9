// Whisper's log-mel spectrogram: Hann window, n_fft 400, hop 160, Slaney mel filters, log10
// clamped to (max - 8), scaled as (x + 4) / 4. Matches faster-whisper's FeatureExtractor,
// including its 160 samples of end padding and one global maximum over the whole recording.
#pragma once

#include <span>
#include <vector>

#include "kernels/backend.h"

namespace amanuensis::features {

inline constexpr int kFftSize = 400;
inline constexpr int kHopLength = 160;

struct LogMel {
  int n_mels = 0;
  int n_frames = 0;
  std::vector<float> values;  // [n_mels, n_frames], row-major
};

// Frames: audio.size() / 160 + 1. `audio` must not be empty.
LogMel compute_log_mel(std::span<const float> audio, int n_mels, kernels::Backend& backend);

// Frames [start, start + count) of every bin, zero-padded (as faster-whisper pads features) to
// `window_frames` columns: the encoder's input for one window.
std::vector<float> window(const LogMel& mel, int start, int count, int window_frames);

// Slaney-normalised triangular filters [n_mels, n_fft / 2 + 1] for 16 kHz, as librosa computes.
std::vector<float> mel_filters(int n_mels);

}  // namespace amanuensis::features
