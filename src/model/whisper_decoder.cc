// The decoder: cross-attention caches of a window, and the steps that feed tokens to states.
#include <algorithm>
#include <cmath>
#include <string>

#include "amanuensis/amanuensis.h"
#include "model/whisper_model.h"
#include "model/whisper_model_internal.h"

namespace amanuensis::model {

namespace {

using detail::kLayerNormEpsilon;
using detail::StepTraffic;
using detail::Timer;
using detail::workspace;

// A decoder step's activations kept on the backend's device for the step
// (kernels::Backend::keep_on_device).
class KeptOnDevice {
 public:
  // Nothing is kept unless `keep`.
  KeptOnDevice(kernels::Backend& backend, std::vector<std::span<float>> ranges, bool keep)
      : backend_(backend), ranges_(keep ? std::move(ranges) : std::vector<std::span<float>>{}) {
    if (!ranges_.empty()) backend_.keep_on_device(ranges_);
  }
  ~KeptOnDevice() {
    if (!ranges_.empty()) backend_.end_keep_on_device(ranges_);
  }
  KeptOnDevice(const KeptOnDevice&) = delete;
  KeptOnDevice& operator=(const KeptOnDevice&) = delete;

 private:
  kernels::Backend& backend_;
  std::vector<std::span<float>> ranges_;
};

}  // namespace

namespace {

// Calls visit(data, bytes) for each layer's keys and values of `cache` in its precision.
template <typename Visit>
void for_each_cache_buffer(const CrossAttentionCache& cache, const Visit& visit) {
  for (const auto* layers : {&cache.keys, &cache.values}) {
    for (const auto& layer : *layers) visit(layer.data(), layer.size() * sizeof(float));
  }
  for (const auto* layers : {&cache.half_keys, &cache.half_values}) {
    for (const auto& layer : *layers) visit(layer.data(), layer.size() * sizeof(std::uint16_t));
  }
}

}  // namespace

std::shared_ptr<const CrossAttentionCache> WhisperModel::cross_attention_cache(
    std::span<const float> encoder_output) const {
  const Timer timer(counters_->encoder_ns);
  std::unique_ptr<CrossAttentionCache> cache;
  {
    const std::lock_guard lock(cache_pool_->mutex);
    if (!cache_pool_->spare.empty()) {
      cache = std::move(cache_pool_->spare.back());
      cache_pool_->spare.pop_back();
    }
  }
  if (cache == nullptr) cache = std::make_unique<CrossAttentionCache>();
  const auto layers = weights_.decoder_layers.size();
  const int d = weights_.n_state;
  const int n_keys = weights_.n_audio_ctx;
  const int n_heads = weights_.n_text_heads;
  const int head_dim = d / n_heads;
  const bool half = precision_ == AttentionPrecision::kReduced;
  cache->n_keys = n_keys;
  cache->n_heads = n_heads;
  cache->head_dim = head_dim;
  cache->keys.resize(half ? 0 : layers);
  cache->values.resize(half ? 0 : layers);
  cache->half_keys.resize(half ? layers : 0);
  cache->half_values.resize(half ? layers : 0);
  auto& key_values = workspace().projected;
  for (std::size_t l = 0; l < layers; ++l) {
    apply(weights_.decoder_layers[l].cross_attention.key_value, encoder_output.data(), n_keys,
          key_values);
    if (half) {
      const kernels::HalfKeyValues layout{nullptr, nullptr, n_keys, n_heads, head_dim};
      cache->half_keys[l].resize(layout.key_elements());
      cache->half_values[l].resize(layout.value_elements());
      kernels::pack_half_key_values(key_values.data(), key_values.data() + d, 2 * d,
                                    cache->half_keys[l].data(), cache->half_values[l].data(),
                                    n_keys, n_heads, head_dim);
      continue;
    }
    auto& keys = cache->keys[l];
    auto& values = cache->values[l];
    keys.resize(static_cast<std::size_t>(n_keys) * d);
    values.resize(static_cast<std::size_t>(n_keys) * d);
    for (int h = 0; h < n_heads; ++h) {
      for (int t = 0; t < n_keys; ++t) {
        const float* row = key_values.data() + static_cast<std::size_t>(t) * 2 * d + h * head_dim;
        const auto to = (static_cast<std::size_t>(h) * n_keys + t) * head_dim;
        std::copy(row, row + head_dim, keys.begin() + static_cast<std::ptrdiff_t>(to));
        std::copy(row + d, row + d + head_dim, values.begin() + static_cast<std::ptrdiff_t>(to));
      }
    }
  }
  // Unchanged while sequences decode against it: resident on the backend until the last holder
  // releases it and hands the storage back to the pool (or frees it once the model is gone).
  for (std::size_t l = 0; l < layers; ++l) {
    if (half) {
      backend_->make_resident_half_cache(cache->half_layer(l));
    } else {
      backend_->make_resident_head_major(cache->keys[l].data(), cache->values[l].data(), n_keys,
                                         n_heads, head_dim);
    }
  }
  constexpr std::size_t kSpareCaches = 4;
  return {cache.release(),
          [pool = std::weak_ptr<CachePool>(cache_pool_)](CrossAttentionCache* released) {
            std::unique_ptr<CrossAttentionCache> owned(released);
            if (const auto alive = pool.lock()) {
              const std::lock_guard lock(alive->mutex);
              if (alive->backend != nullptr) {
                for_each_cache_buffer(*owned, [&](const void* data, std::size_t /*bytes*/) {
                  alive->backend->release_resident(data);
                });
              }
              if (alive->spare.size() < kSpareCaches) alive->spare.push_back(std::move(owned));
            }
          }};
}

void WhisperModel::decoder_self_attention(const SelfAttention& layer, int layer_index,
                                          std::vector<float>& x, std::span<DecodeStep> steps,
                                          std::span<const StepRows> layout) const {
  const int d = weights_.n_state;
  const int rows = layout.back().first + layout.back().rows;
  auto& ws = workspace();
  // Every sequence's projections, whichever state it belongs to, go through one product; only
  // attention is per sequence, over that sequence's own cache and length.
  normalized(layer.norm, x, rows, ws.normed);
  apply(layer.query_key_value, ws.normed.data(), rows, ws.qkv);
  ws.context.resize(static_cast<std::size_t>(rows) * d);
  auto& problems = ws.attention_problems;
  problems.clear();
  for (std::size_t s = 0; s < steps.size(); ++s) {
    auto& state = *steps[s].state;
    const int offset = state.length;
    const int own = offset - state.shared_length;  // rows in each sequence's own cache
    const int new_tokens = layout[s].new_tokens;
    const kernels::MatrixView shared_keys{
        state.shared_length > 0 ? state.shared.keys[layer_index].data() : nullptr,
        state.shared_length, d, d};
    const kernels::MatrixView shared_values{
        state.shared_length > 0 ? state.shared.values[layer_index].data() : nullptr,
        state.shared_length, d, d};
    for (std::size_t b = 0; b < state.sequences.size(); ++b) {
      if (!state.sequences[b].resident.held()) make_rows_resident(cache_pool_, state.sequences[b]);
      auto& keys = state.sequences[b].keys[layer_index];
      auto& values = state.sequences[b].values[layer_index];
      const auto first = static_cast<std::size_t>(layout[s].first) + b * new_tokens;
      const float* block = ws.qkv.data() + first * 3 * d;
      // The new rows join the caches through the backend, which may hold them on its device.
      const auto at = static_cast<std::size_t>(own) * d;
      backend_->copy_rows({block + d, new_tokens, d, 3 * d}, {keys.data() + at, new_tokens, d, d});
      backend_->copy_rows({block + 2 * d, new_tokens, d, 3 * d},
                          {values.data() + at, new_tokens, d, d});
      problems.push_back({.q = {block, new_tokens, d, 3 * d},
                          .k = {keys.data(), own + new_tokens, d, d},
                          .v = {values.data(), own + new_tokens, d, d},
                          .causal_offset = offset,
                          .out = {ws.context.data() + first * d, new_tokens, d, d},
                          .shared_k = shared_keys,
                          .shared_v = shared_values});
    }
  }
  const int head_dim = d / weights_.n_text_heads;
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  backend_->attention_many(problems, weights_.n_text_heads, scale);
  apply(layer.output, ws.context.data(), rows, ws.projected);
  backend_->add(ws.projected, x);
}

void WhisperModel::cross_attention(const CrossAttention& layer, int layer_index,
                                   std::vector<float>& x, std::span<DecodeStep> steps,
                                   std::span<const StepRows> layout) const {
  const int d = weights_.n_state;
  const int n_keys = weights_.n_audio_ctx;
  const int n_heads = weights_.n_text_heads;
  const int head_dim = d / n_heads;
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  const int rows = layout.back().first + layout.back().rows;
  auto& ws = workspace();
  // All queries go through one product; each state's rows then attend to its own window.
  normalized(layer.norm, x, rows, ws.normed);
  apply(layer.query, ws.normed.data(), rows, ws.qkv);
  ws.context.resize(static_cast<std::size_t>(rows) * d);
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const int n = layout[s].rows;
    const float* queries = ws.qkv.data() + static_cast<std::size_t>(layout[s].first) * d;
    float* context = ws.context.data() + static_cast<std::size_t>(layout[s].first) * d;
    if (steps[s].state->cross->half()) {
      half_cross_attention(steps[s], layer_index, queries, n, context);
      continue;
    }
    const float* keys = steps[s].state->cross->keys[layer_index].data();
    const float* values = steps[s].state->cross->values[layer_index].data();
    AttentionCapture* capture = steps[s].capture;
    bool captured_layer = false;
    if (capture != nullptr) {
      for (const auto& head : capture->heads)
        captured_layer = captured_layer || head.first == layer_index;
    }
    if (!captured_layer) {
      backend_->attention_head_major({queries, n, d, d}, keys, values, n_keys, n_heads, scale,
                                     {context, n, d, d});
      continue;
    }
    // Word timing reads chosen heads' scores before the softmax: head by head, unfused.
    auto& scores = ws.scores;
    scores.resize(static_cast<std::size_t>(n) * n_keys);
    const kernels::MutableMatrixView score_view{scores.data(), n, n_keys, n_keys};
    for (int h = 0; h < n_heads; ++h) {
      const int column = h * head_dim;
      const auto offset = static_cast<std::size_t>(h) * n_keys * head_dim;
      backend_->matmul({queries + column, n, head_dim, d},
                       {keys + offset, n_keys, head_dim, head_dim},
                       /*transpose_b=*/true, scale, 0.0F, score_view);
      for (std::size_t i = 0; i < capture->heads.size(); ++i) {
        if (capture->heads[i] != std::pair{layer_index, h}) continue;
        std::copy(scores.begin(), scores.end(),
                  capture->scores.begin() + static_cast<std::ptrdiff_t>(i * scores.size()));
      }
      backend_->softmax_rows(score_view, -1);
      backend_->matmul({scores.data(), n, n_keys, n_keys},
                       {values + offset, n_keys, head_dim, head_dim},
                       /*transpose_b=*/false, 1.0F, 0.0F, {context + column, n, head_dim, d});
    }
  }
  apply(layer.output, ws.context.data(), rows, ws.projected);
  backend_->add(ws.projected, x);
}

void WhisperModel::half_cross_attention(const DecodeStep& step, int layer_index,
                                        const float* queries, int rows, float* context) const {
  const int d = weights_.n_state;
  const auto& cross = *step.state->cross;
  const float scale = 1.0F / std::sqrt(static_cast<float>(cross.head_dim));
  // The fused kernel hands out the scores of the heads word timing reads (one destination per
  // head; a head listed twice is copied after).
  thread_local std::vector<float*> head_scores;
  head_scores.assign(static_cast<std::size_t>(cross.n_heads), nullptr);
  std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (capture index, first index)
  const auto* capture = step.capture;
  const auto block = static_cast<std::size_t>(rows) * cross.n_keys;
  if (capture != nullptr) {
    for (std::size_t i = 0; i < capture->heads.size(); ++i) {
      const auto [layer, head] = capture->heads[i];
      if (layer != layer_index) continue;
      float*& slot = head_scores[static_cast<std::size_t>(head)];
      float* destination = step.capture->scores.data() + i * block;
      if (slot == nullptr) {
        slot = destination;
      } else {
        repeats.emplace_back(i, static_cast<std::size_t>(slot - capture->scores.data()) / block);
      }
    }
  }
  backend_->attention_half_cache({queries, rows, d, d},
                                 cross.half_layer(static_cast<std::size_t>(layer_index)), scale,
                                 {context, rows, d, d}, head_scores);
  for (const auto& [i, first] : repeats) {
    auto& scores = step.capture->scores;
    std::copy_n(scores.begin() + static_cast<std::ptrdiff_t>(first * block), block,
                scores.begin() + static_cast<std::ptrdiff_t>(i * block));
  }
}

void WhisperModel::check_step(const DecodeStep& step) const {
  const auto& w = weights_;
  if (step.state == nullptr) throw Error("decoder step without a decoder state");
  const auto& state = *step.state;
  const auto batch = static_cast<int>(state.sequences.size());
  const auto rows = static_cast<int>(step.tokens.size());
  if (batch == 0 || rows % batch != 0) throw Error("decoder input does not match its batch");
  if (state.cross == nullptr) throw Error("decoder state without a cross-attention cache");
  if (state.length + rows / batch > w.n_text_ctx) {
    throw Error("decoder context of " + std::to_string(w.n_text_ctx) + " tokens exceeded");
  }
  for (const int token : step.tokens) {
    if (token < 0 || token >= w.n_vocab)
      throw Error("token id " + std::to_string(token) + " out of range");
  }
  for (const int position : step.positions) {
    if (position < 0 || position >= rows) {
      throw Error("decoder output row " + std::to_string(position) + " outside the step's " +
                  std::to_string(rows) + " rows");
    }
  }
  if (step.capture != nullptr) {
    const auto layers = static_cast<int>(w.decoder_layers.size());
    for (const auto& [layer, head] : step.capture->heads) {
      if (layer < 0 || layer >= layers || head < 0 || head >= w.n_text_heads) {
        throw Error("attention head (" + std::to_string(layer) + ", " + std::to_string(head) +
                    ") outside the decoder's " + std::to_string(layers) + " layers x " +
                    std::to_string(w.n_text_heads) + " heads");
      }
    }
  }
}

void WhisperModel::embed_steps(std::span<DecodeStep> steps, std::span<const StepRows> layout,
                               std::vector<float>& x) const {
  const auto& w = weights_;
  const int d = w.n_state;
  const int rows = layout.back().first + layout.back().rows;
  // Made on the host, then handed to the backend's copy of x (which a device may keep).
  thread_local std::vector<float> embedded;
  embedded.resize(static_cast<std::size_t>(rows) * d);
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const auto& step = steps[s];
    const int offset = step.state->length;
    for (int r = 0; r < layout[s].rows; ++r) {
      const int token = step.tokens[r];
      float* out = embedded.data() + static_cast<std::size_t>(layout[s].first + r) * d;
      if (w.token_embedding_int8.empty()) {
        const float* embedding = w.token_embedding.data() + static_cast<std::size_t>(token) * d;
        std::copy(embedding, embedding + d, out);
      } else {
        w.token_embedding_int8.dequantize_row(token, out);
      }
      const float* position = w.decoder_positions.data() +
                              static_cast<std::size_t>(offset + r % layout[s].new_tokens) * d;
      for (int i = 0; i < d; ++i) out[i] += position[i];
    }
    if (step.capture != nullptr) {
      step.capture->scores.assign(
          step.capture->heads.size() * layout[s].rows * static_cast<std::size_t>(w.n_audio_ctx),
          0.0F);
    }
  }
  backend_->copy_rows({embedded.data(), rows, d, d}, {x.data(), rows, d, d});
}

void WhisperModel::step_logits(std::span<DecodeStep> steps, std::span<const StepRows> layout,
                               const std::vector<float>& x, int n_out) const {
  const auto& w = weights_;
  const int d = w.n_state;
  // Only the requested rows reach the final norm and the vocabulary product, all in one.
  auto& selected = workspace().normed;
  selected.resize(static_cast<std::size_t>(n_out) * d);
  float* into = selected.data();
  for (std::size_t s = 0; s < steps.size(); ++s) {
    for (const int position : steps[s].positions) {
      const float* row = x.data() + static_cast<std::size_t>(layout[s].first + position) * d;
      backend_->copy_rows({row, 1, d, d}, {into, 1, d, d});
      into += d;
    }
  }
  backend_->layer_norm({selected.data(), n_out, d, d}, w.decoder_norm.gamma, w.decoder_norm.beta,
                       kLayerNormEpsilon);
  // One step's logits go straight into its own vector (a recycled one keeps its capacity);
  // several steps' into one buffer (not zeroed), then each its part.
  const auto size = static_cast<std::size_t>(n_out) * w.n_vocab;
  UninitializedFloats joined;
  float* logits = nullptr;
  if (steps.size() == 1) {
    steps[0].logits.resize(size);
    logits = steps[0].logits.data();
  } else {
    joined.resize(size);
    logits = joined.data();
  }
  const kernels::MutableMatrixView out{logits, n_out, w.n_vocab, w.n_vocab};
  if (w.token_embedding_int8.empty()) {
    backend_->linear({selected.data(), n_out, d, d}, {w.token_embedding.data(), w.n_vocab, d, d},
                     {}, out);
  } else {
    backend_->linear_int8({selected.data(), n_out, d, d}, w.token_embedding_int8, {}, out);
  }
  if (steps.size() == 1) return;
  const float* from = logits;
  for (auto& step : steps) {
    const auto part = static_cast<std::ptrdiff_t>(step.positions.size()) * w.n_vocab;
    step.logits.assign(from, from + part);
    from += part;
  }
}

void WhisperModel::decode_batch(std::span<DecodeStep> steps) const {
  for (const auto& step : steps) check_step(step);
  const auto& w = weights_;
  // Reused by every step on this thread, as the workspace is.
  thread_local std::vector<StepRows> layout;
  layout.clear();
  int rows = 0;
  int n_out = 0;
  for (const auto& step : steps) {
    const auto step_rows = static_cast<int>(step.tokens.size());
    const auto batch = static_cast<int>(step.state->sequences.size());
    layout.push_back({rows, step_rows, step_rows / batch});
    rows += step_rows;
    n_out += static_cast<int>(step.positions.size());
  }
  if (rows == 0) {
    for (auto& step : steps) step.logits.clear();
    return;
  }
  const Timer timer(counters_->decoder_ns);
  const StepTraffic traffic(*backend_, counters_->decoder_traffic);
  ++counters_->decoder_calls;
  counters_->decoded_tokens += rows;
  if (steps.size() > 1) {
    ++counters_->batched_calls;
    counters_->batched_states += static_cast<std::int64_t>(steps.size());
    counters_->batched_tokens += rows;
  }
  auto& x = workspace().x;
  // A step of one decoding keeps its activations on a device. Steps that several requests'
  // decodings share (DecodeBatcher) run op by op as before: with a second thread using the device
  // meanwhile, keeping them gave wrong first tokens on PoCL (issue 18 names this as open).
  const KeptOnDevice kept(*backend_, step_buffers(rows), steps.size() == 1);
  embed_steps(steps, layout, x);
  for (std::size_t l = 0; l < w.decoder_layers.size(); ++l) {
    const auto& layer = w.decoder_layers[l];
    const auto index = static_cast<int>(l);
    decoder_self_attention(layer.self_attention, index, x, steps, layout);
    cross_attention(layer.cross_attention, index, x, steps, layout);
    feed_forward(layer.feed_forward, x, rows);
  }
  for (std::size_t s = 0; s < steps.size(); ++s) steps[s].state->length += layout[s].new_tokens;
  if (n_out == 0) {
    for (auto& step : steps) step.logits.clear();
    return;
  }
  step_logits(steps, layout, x, n_out);
}

std::vector<std::span<float>> WhisperModel::step_buffers(int rows) const {
  const auto& w = weights_;
  const auto width = static_cast<std::size_t>(rows) * w.n_state;
  const auto hidden = static_cast<std::size_t>(rows) * w.decoder_layers.front().feed_forward.up.out;
  auto& ws = workspace();
  // Sized once for the whole step: the ops resize them within these sizes, so that they never
  // move while a device keeps them.
  ws.x.resize(width);
  ws.normed.resize(width);
  ws.qkv.resize(3 * width);
  ws.context.resize(width);
  ws.projected.resize(width);
  ws.hidden.resize(hidden);
  return {ws.x, ws.normed, ws.qkv, ws.context, ws.projected, ws.hidden};
}

std::vector<float> WhisperModel::decode(DecoderState& state, std::span<const int> tokens,
                                        std::span<const int> positions,
                                        AttentionCapture* capture) const {
  DecodeStep step{&state, tokens, positions, capture, {}};
  decode_batch({&step, 1});
  return std::move(step.logits);
}

}  // namespace amanuensis::model
