// Whisper's encoder and decoder on top of a kernels::Backend.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "kernels/backend.h"
#include "model/whisper_weights.h"

namespace amanuensis::model {

// Per-sequence decoder state: the self-attention cache grows one row per token; the
// cross-attention keys and values are computed once per window from the encoder output.
struct DecoderState {
  int length = 0;                                // tokens fed so far
  std::vector<std::vector<float>> self_keys;     // per layer: [n_text_ctx, n_state]
  std::vector<std::vector<float>> self_values;   // per layer: [n_text_ctx, n_state]
  std::vector<std::vector<float>> cross_key_values;  // per layer: [n_audio_ctx, 2 * n_state]
};

class WhisperModel {
 public:
  WhisperModel(WhisperWeights weights, std::unique_ptr<kernels::Backend> backend);

  [[nodiscard]] const WhisperWeights& weights() const { return weights_; }
  [[nodiscard]] kernels::Backend& backend() const { return *backend_; }

  // Number of mel frames in one window (two per encoder position: conv2 has stride 2).
  [[nodiscard]] int window_frames() const { return 2 * weights_.n_audio_ctx; }

  // mel: [n_mels, window_frames()] row-major. Returns the encoder output [n_audio_ctx, n_state].
  [[nodiscard]] std::vector<float> encode(std::span<const float> mel) const;

  // A fresh decoder state attending to `encoder_output`.
  [[nodiscard]] DecoderState start_decoding(std::span<const float> encoder_output) const;

  // Feeds `tokens` after those already in `state` and returns the logits [positions.size(),
  // n_vocab] at the given indices into `tokens` (typically just the last one).
  [[nodiscard]] std::vector<float> decode(DecoderState& state, std::span<const int> tokens,
                                          std::span<const int> positions) const;

 private:
  void encoder_self_attention(const SelfAttention& layer, std::vector<float>& x, int rows) const;
  void decoder_self_attention(const SelfAttention& layer, std::vector<float>& x, int rows,
                              std::vector<float>& keys, std::vector<float>& values,
                              int offset) const;
  void cross_attention(const CrossAttention& layer, std::vector<float>& x, int rows,
                       const std::vector<float>& key_values) const;
  void feed_forward(const FeedForward& layer, std::vector<float>& x, int rows) const;
  // Returns layer_norm(x) as a new matrix, leaving the residual stream x untouched.
  [[nodiscard]] std::vector<float> normalized(const LayerNorm& norm, const std::vector<float>& x,
                                              int rows) const;
  [[nodiscard]] std::vector<float> apply(const Linear& layer, const std::vector<float>& x,
                                         int rows) const;
  // Multi-head scaled dot-product attention; each view holds all heads side by side.
  void attend(kernels::MatrixView queries, kernels::MatrixView keys, kernels::MatrixView values,
              int n_heads, int causal_offset, float* out) const;

  WhisperWeights weights_;
  // Compute kernels hold no per-request state, so one backend serves every concurrent request.
  std::unique_ptr<kernels::Backend> backend_;
};

}  // namespace amanuensis::model
