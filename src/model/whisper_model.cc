#include "model/whisper_model.h"

#include <chrono>
#include <cmath>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/whisper_model_internal.h"

namespace amanuensis::model {
namespace {

using detail::kLayerNormEpsilon;
using detail::Timer;
using detail::workspace;

// Unfolds a kernel-3, padding-1 convolution input into rows of (channel, tap), so that the
// convolution becomes one matrix product with the [out, in * 3] weights. `at(t, c)` reads the
// input at time t and channel c; times outside [0, length) are the zero padding.
template <typename At>
void im2col_kernel3(int out_length, int stride, int length, int channels, At at,
                    std::vector<float>& columns) {
  columns.assign(static_cast<std::size_t>(out_length) * channels * 3, 0.0F);
  for (int t = 0; t < out_length; ++t) {
    float* row = columns.data() + static_cast<std::size_t>(t) * channels * 3;
    for (int tap = 0; tap < 3; ++tap) {
      const int source = t * stride + tap - 1;
      if (source < 0 || source >= length) continue;
      for (int c = 0; c < channels; ++c) row[c * 3 + tap] = at(source, c);
    }
  }
}

}  // namespace

namespace detail {

Workspace& workspace() {
  thread_local Workspace buffers;
  return buffers;
}

}  // namespace detail

WhisperModel::WhisperModel(WhisperWeights weights, std::unique_ptr<kernels::Backend> backend,
                           std::optional<AttentionPrecision> precision)
    : weights_(std::move(weights)),
      precision_(precision.value_or(weights_.weight_type == WeightType::kInt8
                                        ? AttentionPrecision::kReduced
                                        : AttentionPrecision::kFloat32)),
      backend_(std::move(backend)) {
  // The weights stay put for the model's life: a device backend keeps its copies of them, the
  // dense layers' uploaded now. The backend goes with the model, so nothing is released.
  for_each_buffer(
      weights_, [&](const void* data, std::size_t bytes) { backend_->make_resident(data, bytes); });
  for_each_linear(weights_, [&](const Linear& layer) {
    if (!layer.int8.empty()) {
      backend_->make_resident_int8_weight(layer.int8);
    } else if (!layer.weight.empty()) {
      backend_->make_resident_weight(layer.view());
    }
  });
  const int d = weights_.n_state;
  if (!weights_.token_embedding_int8.empty()) {
    backend_->make_resident_int8_weight(weights_.token_embedding_int8);
  } else if (!weights_.token_embedding.empty()) {
    backend_->make_resident_weight({weights_.token_embedding.data(), weights_.n_vocab, d, d});
  }
  cache_pool_->backend = backend_.get();
}

WhisperModel::~WhisperModel() {
  // Caches still held elsewhere release nothing from here on: the backend is about to go.
  if (cache_pool_ == nullptr) return;  // moved from
  const std::lock_guard lock(cache_pool_->mutex);
  cache_pool_->backend = nullptr;
}

ModelStats WhisperModel::stats() const {
  ModelStats s;
  s.encoder_seconds = static_cast<double>(counters_->encoder_ns.load()) * 1e-9;
  s.decoder_seconds = static_cast<double>(counters_->decoder_ns.load()) * 1e-9;
  s.decoder_calls = counters_->decoder_calls.load();
  s.decoded_tokens = counters_->decoded_tokens.load();
  s.batched_calls = counters_->batched_calls.load();
  s.batched_states = counters_->batched_states.load();
  s.batched_tokens = counters_->batched_tokens.load();
  if (backend_->traffic()) s.decoder_traffic = counters_->decoder_traffic.totals();
  return s;
}

void WhisperModel::normalized(const LayerNorm& norm, const std::vector<float>& x, int rows,
                              std::vector<float>& out) const {
  const auto n = static_cast<std::size_t>(rows) * weights_.n_state;
  out.resize(n);
  backend_->copy_rows({x.data(), rows, weights_.n_state, weights_.n_state},
                      {out.data(), rows, weights_.n_state, weights_.n_state});
  backend_->layer_norm({out.data(), rows, weights_.n_state, weights_.n_state}, norm.gamma,
                       norm.beta, kLayerNormEpsilon);
}

void WhisperModel::apply(const Linear& layer, const float* x, int rows,
                         std::vector<float>& out) const {
  out.resize(static_cast<std::size_t>(rows) * layer.out);
  const kernels::MutableMatrixView y{out.data(), rows, layer.out, layer.out};
  if (!layer.int8.empty()) {
    backend_->linear_int8({x, rows, layer.in, layer.in}, layer.int8, layer.bias, y);
  } else {
    backend_->linear({x, rows, layer.in, layer.in}, layer.view(), layer.bias, y);
  }
}

std::vector<float> WhisperModel::encode(std::span<const float> mel) const {
  std::vector<std::vector<float>> one(1);
  one[0].assign(mel.begin(), mel.end());
  return std::move(encode_batch(one).front());
}

void WhisperModel::encoder_stem(std::span<const std::vector<float>> mels,
                                std::vector<float>& x) const {
  const auto& w = weights_;
  const int frames = window_frames();
  const int d = w.n_state;
  const int windows = static_cast<int>(mels.size());
  auto& ws = workspace();
  // Each window's convolution inputs unfolded one after another, so that each convolution is
  // one product over every window's positions.
  std::vector<float> unfolded;
  for (const auto& mel : mels) {
    im2col_kernel3(
        frames, 1, frames, w.n_mels,
        [&](int t, int c) { return mel[static_cast<std::size_t>(c) * frames + t]; }, ws.columns);
    unfolded.insert(unfolded.end(), ws.columns.begin(), ws.columns.end());
  }
  apply(w.conv1, unfolded.data(), windows * frames, ws.hidden);
  backend_->gelu(ws.hidden);
  unfolded.clear();
  for (int b = 0; b < windows; ++b) {
    const float* hidden = ws.hidden.data() + static_cast<std::size_t>(b) * frames * d;
    im2col_kernel3(
        w.n_audio_ctx, 2, frames, d,
        [&](int t, int c) { return hidden[static_cast<std::size_t>(t) * d + c]; }, ws.columns);
    unfolded.insert(unfolded.end(), ws.columns.begin(), ws.columns.end());
  }
  apply(w.conv2, unfolded.data(), windows * w.n_audio_ctx, x);
  backend_->gelu(x);
  for (int b = 0; b < windows; ++b) {
    const auto positions = static_cast<std::size_t>(w.n_audio_ctx) * d;
    backend_->add(w.encoder_positions, {x.data() + b * positions, positions});
  }
}

std::vector<std::vector<float>> WhisperModel::encode_batch(
    std::span<const std::vector<float>> mels) const {
  const auto& w = weights_;
  const int frames = window_frames();
  for (const auto& mel : mels) {
    if (mel.size() != static_cast<std::size_t>(w.n_mels) * frames) {
      throw Error("encoder input has " + std::to_string(mel.size()) + " values, expected " +
                  std::to_string(w.n_mels) + " mel bins x " + std::to_string(frames) + " frames");
    }
  }
  if (mels.empty()) return {};
  const Timer timer(counters_->encoder_ns);
  const int d = w.n_state;
  const int windows = static_cast<int>(mels.size());
  const int rows = windows * w.n_audio_ctx;
  std::vector<float> x;
  encoder_stem(mels, x);
  for (const auto& layer : w.encoder_layers) {
    encoder_self_attention(layer.attention, x, windows);
    feed_forward(layer.feed_forward, x, rows);
  }
  backend_->layer_norm({x.data(), rows, d, d}, w.encoder_norm.gamma, w.encoder_norm.beta,
                       kLayerNormEpsilon);
  if (windows == 1) return {std::move(x)};
  std::vector<std::vector<float>> outputs;
  outputs.reserve(static_cast<std::size_t>(windows));
  const auto size = static_cast<std::ptrdiff_t>(w.n_audio_ctx) * d;
  for (int b = 0; b < windows; ++b)
    outputs.emplace_back(x.begin() + b * size, x.begin() + (b + 1) * size);
  return outputs;
}

template <typename OnScores>
void WhisperModel::attend(kernels::MatrixView queries, kernels::MatrixView keys,
                          kernels::MatrixView values, int n_heads, int causal_offset, float* out,
                          const OnScores* on_scores) const {
  const int d = weights_.n_state;
  const int head_dim = d / n_heads;
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  if (on_scores == nullptr) {
    backend_->attention(queries, keys, values, n_heads, scale, causal_offset,
                        {out, queries.rows, d, d});
    return;
  }
  auto& scores = workspace().scores;
  scores.resize(static_cast<std::size_t>(queries.rows) * keys.rows);
  const kernels::MutableMatrixView score_view{scores.data(), queries.rows, keys.rows, keys.rows};
  for (int h = 0; h < n_heads; ++h) {
    const int column = h * head_dim;
    backend_->matmul({queries.data + column, queries.rows, head_dim, queries.ld},
                     {keys.data + column, keys.rows, head_dim, keys.ld}, /*transpose_b=*/true,
                     scale, 0.0F, score_view);
    (*on_scores)(h, std::span<const float>(scores));
    backend_->softmax_rows(score_view, causal_offset);
    backend_->matmul({scores.data(), queries.rows, keys.rows, keys.rows},
                     {values.data + column, values.rows, head_dim, values.ld},
                     /*transpose_b=*/false, 1.0F, 0.0F, {out + column, queries.rows, head_dim, d});
  }
}

namespace {
using NoScores = void (*)(int, std::span<const float>);
}  // namespace

void WhisperModel::encoder_self_attention(const SelfAttention& layer, std::vector<float>& x,
                                          int windows) const {
  const int d = weights_.n_state;
  const int positions = weights_.n_audio_ctx;
  const int rows = windows * positions;
  auto& ws = workspace();
  normalized(layer.norm, x, rows, ws.normed);
  apply(layer.query_key_value, ws.normed.data(), rows, ws.qkv);
  ws.context.resize(static_cast<std::size_t>(rows) * d);
  const int head_dim = d / weights_.n_audio_heads;  // whole: d is a multiple of the heads
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  for (int b = 0; b < windows; ++b) {
    const float* qkv = ws.qkv.data() + static_cast<std::size_t>(b) * positions * 3 * d;
    const kernels::MatrixView queries{qkv, positions, d, 3 * d};
    const kernels::MatrixView keys{qkv + d, positions, d, 3 * d};
    const kernels::MatrixView values{qkv + 2 * d, positions, d, 3 * d};
    float* context = ws.context.data() + static_cast<std::size_t>(b) * positions * d;
    if (precision_ == AttentionPrecision::kReduced) {
      backend_->attention_reduced(queries, keys, values, weights_.n_audio_heads, scale,
                                  {context, positions, d, d});
    } else {
      attend<NoScores>(queries, keys, values, weights_.n_audio_heads, /*causal_offset=*/-1, context,
                       nullptr);
    }
  }
  apply(layer.output, ws.context.data(), rows, ws.projected);
  backend_->add(ws.projected, x);
}

void WhisperModel::feed_forward(const FeedForward& layer, std::vector<float>& x, int rows) const {
  auto& ws = workspace();
  normalized(layer.norm, x, rows, ws.normed);
  apply(layer.up, ws.normed.data(), rows, ws.hidden);
  backend_->gelu(ws.hidden);
  apply(layer.down, ws.hidden.data(), rows, ws.projected);
  backend_->add(ws.projected, x);
}

}  // namespace amanuensis::model
