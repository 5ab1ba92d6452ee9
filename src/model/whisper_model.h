// Whisper's encoder and decoder on top of a kernels::Backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "model/whisper_weights.h"

namespace amanuensis::model {

// The cross-attention keys and values of one window: computed once from the encoder output and
// shared by every sequence (beam, sample, retry) decoded against that window.
// Stored head by head (per layer: [n_text_heads, n_audio_ctx, head_dim]) so that decoding, a few
// query rows per step, streams each head's keys and values from contiguous memory.
struct CrossAttentionCache {
  std::vector<std::vector<float>> keys;    // per layer
  std::vector<std::vector<float>> values;  // per layer
};

// One sequence's self-attention cache: one row per token fed so far.
struct SequenceCache {
  std::vector<std::vector<float>> keys;    // per layer: [n_text_ctx, n_state]
  std::vector<std::vector<float>> values;  // per layer: [n_text_ctx, n_state]
};

// Decoder state for a batch of sequences of equal length (the beams of a beam search, say).
struct DecoderState {
  int length = 0;  // tokens fed to each sequence so far
  std::shared_ptr<const CrossAttentionCache> cross;
  std::vector<SequenceCache> sequences;

  // Keeps sequence order[i] as the new sequence i (beam search's reordering). A sequence kept
  // once is moved, not copied; only duplicates pay for a copy.
  void reorder(std::span<const int> order);
};

// Cross-attention scores (scaled query-key products, before the softmax) of chosen heads, for
// aligning tokens with audio frames.
struct AttentionCapture {
  std::vector<std::pair<int, int>> heads;  // (layer, head)
  std::vector<float> scores;               // filled: [heads.size(), rows, n_audio_ctx]
};

// Time spent in the model since it was loaded, summed over every thread (for benchmarks).
struct ModelStats {
  double encoder_seconds = 0;  // encode() and cross_attention_cache()
  double decoder_seconds = 0;  // decode()
  std::int64_t decoder_calls = 0;
  std::int64_t decoded_tokens = 0;  // token rows fed to decode()
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

  [[nodiscard]] std::shared_ptr<const CrossAttentionCache> cross_attention_cache(
      std::span<const float> encoder_output) const;

  // A decoder state with `batch` empty sequences attending to one window.
  [[nodiscard]] DecoderState start_decoding(std::shared_ptr<const CrossAttentionCache> cross,
                                            int batch = 1) const;

  [[nodiscard]] ModelStats stats() const;

  // Feeds tokens.size() / batch new tokens to each sequence of the state (tokens grouped by
  // sequence) and returns the logits [positions.size(), n_vocab] of the given rows of that
  // [batch * new_tokens] block. `capture`, if set, records the cross-attention of its heads.
  [[nodiscard]] std::vector<float> decode(DecoderState& state, std::span<const int> tokens,
                                          std::span<const int> positions,
                                          AttentionCapture* capture = nullptr) const;

 private:
  struct Counters {
    std::atomic<std::int64_t> encoder_ns{0};
    std::atomic<std::int64_t> decoder_ns{0};
    std::atomic<std::int64_t> decoder_calls{0};
    std::atomic<std::int64_t> decoded_tokens{0};
  };

  void encoder_self_attention(const SelfAttention& layer, std::vector<float>& x, int rows) const;
  void decoder_self_attention(const SelfAttention& layer, int layer_index, std::vector<float>& x,
                              int new_tokens, DecoderState& state) const;
  void cross_attention(const CrossAttention& layer, int layer_index, std::vector<float>& x,
                       int rows, const DecoderState& state, AttentionCapture* capture) const;
  void feed_forward(const FeedForward& layer, std::vector<float>& x, int rows) const;
  // Multi-head scaled dot-product attention; each view holds all heads side by side.
  // `on_scores(head, scores)`, if given, sees each head's scores [queries.rows, keys.rows]
  // before softmax (this takes the unfused path).
  template <typename OnScores>
  void attend(kernels::MatrixView queries, kernels::MatrixView keys, kernels::MatrixView values,
              int n_heads, int causal_offset, float* out, const OnScores* on_scores) const;
  // out = layer_norm(x), leaving the residual stream x untouched; `out` is reused storage.
  void normalized(const LayerNorm& norm, const std::vector<float>& x, int rows,
                  std::vector<float>& out) const;
  // out = x * layer^T + bias, through the layer's int8 or float32 weights.
  void apply(const Linear& layer, const float* x, int rows, std::vector<float>& out) const;

  WhisperWeights weights_;
  // Compute kernels hold no per-request state, so one backend serves every concurrent request.
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<Counters> counters_ = std::make_unique<Counters>();
};

}  // namespace amanuensis::model
