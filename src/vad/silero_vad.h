// Silero VAD v6 (github.com/snakers4/silero-vad, MIT), run natively from the weights of its ONNX
// file (the silero_vad_v6.onnx faster-whisper ships), as faster-whisper's SileroVADModel runs it.
//
// The network, per 512-sample window (32 ms at 16 kHz) with the previous window's last 64 samples
// in front (zeros for the first window), 576 samples:
//   reflect-pad 128 each side -> STFT (conv with the stored 258 x 256 basis, hop 128; frames 1-4
//   of 5) -> magnitudes of 129 bins x 4 frames -> conv 129->128 (k3, pad 1) -> ReLU -> conv
//   128->64 (k3, stride 2) -> ReLU -> conv 64->64 (k3, stride 2) -> ReLU -> conv 64->128 (k3)
//   -> ReLU -> LSTM (hidden 128, state carried from window to window) -> ReLU -> linear 128->1
//   -> sigmoid: the window's speech probability.
//
// Everything up to the LSTM is independent per window, so it runs over blocks of windows as
// matrix products (vad_kernels.h); only the LSTM's recurrence is sequential. The STFT basis is a
// windowed DFT, symmetric about its middle, so each frame is first folded in half (x[j] and
// x[256 - j] summed for the real parts, subtracted for the imaginary ones): half the products.
// Single-threaded; each window's result is the same whatever block it is computed in.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace amanuensis::vad {

inline constexpr int kWindowSamples = 512;
inline constexpr int kContextSamples = 64;

// One of the network's per-window products: out[j] = bias[j] + sum_i in[i] weights[i * n + j]
// (vad_kernels.h gemm_rows), `n` padded to a multiple of 16 with zero columns.
struct VadLayer {
  int k = 0;
  int n = 0;
  std::vector<float> weights;  // [k][n]
  std::vector<float> bias;     // [n]
};

class SileroVad {
 public:
  // Reads the weights from the bytes of a silero_vad_v6.onnx file; `source` names it in errors.
  // Throws amanuensis::Error when the file is not ONNX, or any weight is missing or has another
  // shape or type than v6's.
  static SileroVad from_onnx(std::span<const std::byte> bytes, std::string_view source);

  // The speech probability of every 512-sample window of `audio`, which is first zero-padded as
  // faster-whisper pads it: by 512 - size % 512 samples (a whole window when the size is a
  // multiple of 512). Like faster-whisper's SileroVADModel, the last window's last 64 samples are
  // zeroed before it runs (a side effect of its context code that its results carry).
  [[nodiscard]] std::vector<float> probabilities(std::span<const float> audio) const;

 private:
  struct Workspace;

 public:
  // The same probabilities for audio that arrives in pieces (live input): one per 512-sample
  // window as soon as the window is complete, the context samples and the LSTM's state carried
  // from push to push. Equal to probabilities() of all the audio so far for every window but
  // that function's last (which it zero-pads and partly zeroes). Not thread-safe; cheap to move.
  class Stream {
   public:
    explicit Stream(std::shared_ptr<const SileroVad> vad);
    ~Stream();
    Stream(Stream&& other) noexcept;
    Stream& operator=(Stream&& other) noexcept;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Appends samples; returns the probability of each window they complete, in order.
    std::vector<float> push(std::span<const float> audio);
    // Forgets all audio and state, as if newly made.
    void reset();

   private:
    std::shared_ptr<const SileroVad> vad_;
    std::unique_ptr<Workspace> work_;
    // The previous window's last 64 samples (zeros before the first), then samples not yet in a
    // complete window.
    std::vector<float> pending_;
  };

 private:
  SileroVad() = default;

  void run_block(Workspace& work, int rows) const;

  VadLayer stft_real_;                 // 129 folded samples -> the 129 bins' real parts
  VadLayer stft_imag_;                 // 127 folded samples -> their imaginary parts
  VadLayer conv0_;                     // 3 taps x 129 bins -> 128
  VadLayer conv1_;                     // 3 taps x 128 -> 64
  VadLayer conv2_;                     // taps 1, 2 x 64 -> 64 (tap 0 only ever sees padding)
  VadLayer conv3_;                     // the middle tap, 64 -> 128 (the others only see padding)
  VadLayer lstm_input_;                // W [128][512], bias Wb + Rb
  std::vector<float> lstm_recurrent_;  // R, stored [128][512]
  std::vector<float> head_weights_;    // 128
  float head_bias_ = 0;
};

}  // namespace amanuensis::vad
