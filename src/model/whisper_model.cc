#include "model/whisper_model.h"

#include <cmath>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

namespace {

constexpr float kLayerNormEpsilon = 1e-5F;

// Unfolds a kernel-3, padding-1 convolution input into rows of (channel, tap), so that the
// convolution becomes one matrix product with the [out, in * 3] weights. `at(t, c)` reads the
// input at time t and channel c; times outside [0, length) are the zero padding.
template <typename At>
std::vector<float> im2col_kernel3(int out_length, int stride, int length, int channels, At at) {
  std::vector<float> columns(static_cast<std::size_t>(out_length) * channels * 3, 0.0F);
  for (int t = 0; t < out_length; ++t) {
    float* row = columns.data() + static_cast<std::size_t>(t) * channels * 3;
    for (int tap = 0; tap < 3; ++tap) {
      const int source = t * stride + tap - 1;
      if (source < 0 || source >= length) continue;
      for (int c = 0; c < channels; ++c) row[c * 3 + tap] = at(source, c);
    }
  }
  return columns;
}

}  // namespace

WhisperModel::WhisperModel(WhisperWeights weights, std::unique_ptr<kernels::Backend> backend)
    : weights_(std::move(weights)), backend_(std::move(backend)) {}

std::vector<float> WhisperModel::normalized(const LayerNorm& norm, const std::vector<float>& x,
                                            int rows) const {
  std::vector<float> out = x;
  backend_->layer_norm({out.data(), rows, weights_.n_state, weights_.n_state}, norm.gamma,
                       norm.beta, kLayerNormEpsilon);
  return out;
}

std::vector<float> WhisperModel::apply(const Linear& layer, const std::vector<float>& x,
                                       int rows) const {
  std::vector<float> out(static_cast<std::size_t>(rows) * layer.out);
  backend_->linear({x.data(), rows, layer.in, layer.in}, layer.view(), layer.bias,
                   {out.data(), rows, layer.out, layer.out});
  return out;
}

std::vector<float> WhisperModel::encode(std::span<const float> mel) const {
  const auto& w = weights_;
  const int frames = window_frames();
  if (mel.size() != static_cast<std::size_t>(w.n_mels) * frames) {
    throw Error("encoder input has " + std::to_string(mel.size()) + " values, expected " +
                std::to_string(w.n_mels) + " mel bins x " + std::to_string(frames) + " frames");
  }
  const int d = w.n_state;

  auto columns = im2col_kernel3(frames, 1, frames, w.n_mels,
                                [&](int t, int c) { return mel[static_cast<std::size_t>(c) * frames + t]; });
  auto hidden = apply(w.conv1, columns, frames);
  backend_->gelu(hidden);

  columns = im2col_kernel3(w.n_audio_ctx, 2, frames, d,
                           [&](int t, int c) { return hidden[static_cast<std::size_t>(t) * d + c]; });
  auto x = apply(w.conv2, columns, w.n_audio_ctx);
  backend_->gelu(x);
  backend_->add(w.encoder_positions, x);

  for (const auto& layer : w.encoder_layers) {
    encoder_self_attention(layer.attention, x, w.n_audio_ctx);
    feed_forward(layer.feed_forward, x, w.n_audio_ctx);
  }
  backend_->layer_norm({x.data(), w.n_audio_ctx, d, d}, w.encoder_norm.gamma, w.encoder_norm.beta,
                       kLayerNormEpsilon);
  return x;
}

template <typename OnScores>
void WhisperModel::attend(kernels::MatrixView queries, kernels::MatrixView keys,
                          kernels::MatrixView values, int n_heads, int causal_offset, float* out,
                          OnScores on_scores) const {
  const int d = weights_.n_state;
  const int head_dim = d / n_heads;
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> scores(static_cast<std::size_t>(queries.rows) * keys.rows);
  const kernels::MutableMatrixView score_view{scores.data(), queries.rows, keys.rows, keys.rows};
  for (int h = 0; h < n_heads; ++h) {
    const int column = h * head_dim;
    backend_->matmul({queries.data + column, queries.rows, head_dim, queries.ld},
                     {keys.data + column, keys.rows, head_dim, keys.ld}, /*transpose_b=*/true, scale,
                     0.0F, score_view);
    on_scores(h, std::span<const float>(scores));
    backend_->softmax_rows(score_view, causal_offset);
    backend_->matmul({scores.data(), queries.rows, keys.rows, keys.rows},
                     {values.data + column, values.rows, head_dim, values.ld},
                     /*transpose_b=*/false, 1.0F, 0.0F, {out + column, queries.rows, head_dim, d});
  }
}

void WhisperModel::encoder_self_attention(const SelfAttention& layer, std::vector<float>& x,
                                          int rows) const {
  const int d = weights_.n_state;
  const auto qkv = apply(layer.query_key_value, normalized(layer.norm, x, rows), rows);
  std::vector<float> context(static_cast<std::size_t>(rows) * d);
  attend({qkv.data(), rows, d, 3 * d}, {qkv.data() + d, rows, d, 3 * d},
         {qkv.data() + 2 * d, rows, d, 3 * d}, weights_.n_audio_heads, /*causal_offset=*/-1,
         context.data(), [](int, std::span<const float>) {});
  backend_->add(apply(layer.output, context, rows), x);
}

void WhisperModel::feed_forward(const FeedForward& layer, std::vector<float>& x, int rows) const {
  auto hidden = apply(layer.up, normalized(layer.norm, x, rows), rows);
  backend_->gelu(hidden);
  backend_->add(apply(layer.down, hidden, rows), x);
}

void DecoderState::reorder(std::span<const int> order) {
  std::vector<int> uses(sequences.size(), 0);
  for (const int source : order) ++uses[source];
  std::vector<SequenceCache> reordered;
  reordered.reserve(order.size());
  for (const int source : order) {
    if (--uses[source] == 0) {
      reordered.push_back(std::move(sequences[source]));
    } else {
      reordered.push_back(sequences[source]);
    }
  }
  sequences = std::move(reordered);
}

std::shared_ptr<const CrossAttentionCache> WhisperModel::cross_attention_cache(
    std::span<const float> encoder_output) const {
  const std::vector<float> memory(encoder_output.begin(), encoder_output.end());
  auto cache = std::make_shared<CrossAttentionCache>();
  for (const auto& layer : weights_.decoder_layers) {
    cache->key_values.push_back(apply(layer.cross_attention.key_value, memory, weights_.n_audio_ctx));
  }
  return cache;
}

DecoderState WhisperModel::start_decoding(std::shared_ptr<const CrossAttentionCache> cross,
                                          int batch) const {
  const auto& w = weights_;
  const auto cache_size = static_cast<std::size_t>(w.n_text_ctx) * w.n_state;
  SequenceCache empty;
  empty.keys.assign(w.decoder_layers.size(), std::vector<float>(cache_size));
  empty.values.assign(w.decoder_layers.size(), std::vector<float>(cache_size));
  DecoderState state;
  state.cross = std::move(cross);
  state.sequences.assign(static_cast<std::size_t>(batch), empty);
  return state;
}

void WhisperModel::decoder_self_attention(const SelfAttention& layer, int layer_index,
                                          std::vector<float>& x, int new_tokens,
                                          DecoderState& state) const {
  const int d = weights_.n_state;
  const int offset = state.length;
  const auto batch = static_cast<int>(state.sequences.size());
  const int rows = batch * new_tokens;
  const auto qkv = apply(layer.query_key_value, normalized(layer.norm, x, rows), rows);
  std::vector<float> context(static_cast<std::size_t>(rows) * d);
  for (int b = 0; b < batch; ++b) {
    auto& keys = state.sequences[b].keys[layer_index];
    auto& values = state.sequences[b].values[layer_index];
    const float* block = qkv.data() + static_cast<std::size_t>(b) * new_tokens * 3 * d;
    for (int r = 0; r < new_tokens; ++r) {
      const float* source = block + static_cast<std::size_t>(r) * 3 * d;
      std::copy(source + d, source + 2 * d, keys.begin() + static_cast<std::ptrdiff_t>(offset + r) * d);
      std::copy(source + 2 * d, source + 3 * d,
                values.begin() + static_cast<std::ptrdiff_t>(offset + r) * d);
    }
    attend({block, new_tokens, d, 3 * d}, {keys.data(), offset + new_tokens, d, d},
           {values.data(), offset + new_tokens, d, d}, weights_.n_text_heads,
           /*causal_offset=*/offset, context.data() + static_cast<std::size_t>(b) * new_tokens * d,
           [](int, std::span<const float>) {});
  }
  backend_->add(apply(layer.output, context, rows), x);
}

void WhisperModel::cross_attention(const CrossAttention& layer, int layer_index,
                                   std::vector<float>& x, int rows, const DecoderState& state,
                                   AttentionCapture* capture) const {
  const int d = weights_.n_state;
  const int n_keys = weights_.n_audio_ctx;
  const auto& key_values = state.cross->key_values[layer_index];
  // Every sequence attends to the same window, so all their queries go through one product.
  const auto queries = apply(layer.query, normalized(layer.norm, x, rows), rows);
  std::vector<float> context(static_cast<std::size_t>(rows) * d);
  const auto record = [&](int head, std::span<const float> scores) {
    if (capture == nullptr) return;
    for (std::size_t i = 0; i < capture->heads.size(); ++i) {
      if (capture->heads[i] != std::pair{layer_index, head}) continue;
      std::copy(scores.begin(), scores.end(),
                capture->scores.begin() + static_cast<std::ptrdiff_t>(i * scores.size()));
    }
  };
  attend({queries.data(), rows, d, d}, {key_values.data(), n_keys, d, 2 * d},
         {key_values.data() + d, n_keys, d, 2 * d}, weights_.n_text_heads, /*causal_offset=*/-1,
         context.data(), record);
  backend_->add(apply(layer.output, context, rows), x);
}

std::vector<float> WhisperModel::decode(DecoderState& state, std::span<const int> tokens,
                                        std::span<const int> positions,
                                        AttentionCapture* capture) const {
  const auto& w = weights_;
  const int d = w.n_state;
  const auto batch = static_cast<int>(state.sequences.size());
  const int rows = static_cast<int>(tokens.size());
  if (batch == 0 || rows % batch != 0) throw Error("decoder input does not match its batch");
  const int new_tokens = rows / batch;
  const int offset = state.length;
  if (offset + new_tokens > w.n_text_ctx) {
    throw Error("decoder context of " + std::to_string(w.n_text_ctx) + " tokens exceeded");
  }
  if (capture != nullptr) {
    capture->scores.assign(capture->heads.size() * rows * w.n_audio_ctx, 0.0F);
  }
  std::vector<float> x(static_cast<std::size_t>(rows) * d);
  for (int r = 0; r < rows; ++r) {
    const int token = tokens[r];
    if (token < 0 || token >= w.n_vocab) throw Error("token id " + std::to_string(token) + " out of range");
    const float* embedding = w.token_embedding.data() + static_cast<std::size_t>(token) * d;
    const float* position =
        w.decoder_positions.data() + static_cast<std::size_t>(offset + r % new_tokens) * d;
    for (int i = 0; i < d; ++i) x[static_cast<std::size_t>(r) * d + i] = embedding[i] + position[i];
  }
  for (std::size_t l = 0; l < w.decoder_layers.size(); ++l) {
    const auto& layer = w.decoder_layers[l];
    const auto index = static_cast<int>(l);
    decoder_self_attention(layer.self_attention, index, x, new_tokens, state);
    cross_attention(layer.cross_attention, index, x, rows, state, capture);
    feed_forward(layer.feed_forward, x, rows);
  }
  state.length += new_tokens;
  const int n_out = static_cast<int>(positions.size());
  std::vector<float> selected(static_cast<std::size_t>(n_out) * d);
  for (int i = 0; i < n_out; ++i) {
    const auto row = x.begin() + static_cast<std::ptrdiff_t>(positions[i]) * d;
    std::copy(row, row + d, selected.begin() + static_cast<std::ptrdiff_t>(i) * d);
  }
  backend_->layer_norm({selected.data(), n_out, d, d}, w.decoder_norm.gamma, w.decoder_norm.beta,
                       kLayerNormEpsilon);
  std::vector<float> logits(static_cast<std::size_t>(n_out) * w.n_vocab);
  backend_->linear({selected.data(), n_out, d, d}, {w.token_embedding.data(), w.n_vocab, d, d}, {},
                   {logits.data(), n_out, w.n_vocab, w.n_vocab});
  return logits;
}

}  // namespace amanuensis::model
