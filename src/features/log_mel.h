// Whisper's log-mel spectrogram: Hann window, n_fft 400, hop 160, Slaney mel filters, log10
// clamped to (max - 8), scaled as (x + 4) / 4. Matches faster-whisper's FeatureExtractor,
// including its 160 samples of end padding and, by default, one maximum over the whole recording.
#pragma once

#include <span>
#include <vector>

#include "kernels/backend.h"

namespace amanuensis::features {

inline constexpr int kFftSize = 400;
inline constexpr int kHopLength = 160;

// Whose maximum sets the floor (max - 8) of the features.
enum class Floor {
  kRecording,  // the whole recording's, as faster-whisper (and openai-whisper) do
  // Each window's own, over the frames it holds: what Whisper saw in training, where each
  // 30-second segment's features were made on their own. A window then sounds the same wherever
  // it lies in a recording; with the recording's maximum, a louder stretch elsewhere (another
  // speaker, another language) raises the floor under a quiet one and can change its text.
  kEachWindow,
};

struct LogMel {
  int n_mels = 0;
  int n_frames = 0;
  // [n_mels, n_frames], row-major: the scaled features; with Floor::kEachWindow, the log10
  // energies, which window() floors and scales.
  std::vector<float> values;
  Floor floor = Floor::kRecording;
};

// Frames: audio.size() / 160 + 1. `audio` must not be empty.
LogMel compute_log_mel(std::span<const float> audio, int n_mels, kernels::Backend& backend,
                       Floor floor = Floor::kRecording);

// Frames [start, start + count) of every bin (floored and scaled by their own maximum for
// Floor::kEachWindow), zero-padded (as faster-whisper pads features) to `window_frames` columns:
// the encoder's input for one window.
std::vector<float> window(const LogMel& mel, int start, int count, int window_frames);

// Slaney-normalised triangular filters [n_mels, n_fft / 2 + 1] for 16 kHz, as librosa computes.
std::vector<float> mel_filters(int n_mels);

}  // namespace amanuensis::features
