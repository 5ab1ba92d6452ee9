// Whisper's encoder and decoder on top of a kernels::Backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/traffic_counter.h"
#include "model/whisper_weights.h"

namespace amanuensis::model {

// Allocates without value-initialising: a sequence cache reserves room for the whole text
// context (11 MiB per sequence for base), of which decoding touches only the rows it fills, so
// zeroing it would fault in and clear every page for nothing.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {  // NOLINT(readability-identifier-naming): the allocator interface
    using other = UninitializedAllocator<U>;  // NOLINT(readability-identifier-naming)
  };
  using std::allocator<T>::allocator;
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(p)) U;
    } else {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  }
};
using UninitializedFloats = std::vector<float, UninitializedAllocator<float>>;
using UninitializedHalves = std::vector<std::uint16_t, UninitializedAllocator<std::uint16_t>>;

// The cross-attention keys and values of one window: computed once from the encoder output and
// shared by every sequence (beam, sample, retry) decoded against that window. Decoding reads all
// of it every step, so its layout is chosen for a few query rows streaming it:
// - AttentionPrecision::kFloat32: float32, head by head (per layer [n_text_heads, n_audio_ctx,
//   head_dim]), each head's keys and values contiguous (37 MiB for base);
// - kReduced: float16, keys transposed in tiles (kernels::HalfKeyValues), half the bytes.
// Only the vectors of the model's precision are filled.
struct CrossAttentionCache {
  std::vector<UninitializedFloats> keys;         // per layer, float32
  std::vector<UninitializedFloats> values;       // per layer, float32
  std::vector<UninitializedHalves> half_keys;    // per layer, float16
  std::vector<UninitializedHalves> half_values;  // per layer, float16
  int n_keys = 0;
  int n_heads = 0;
  int head_dim = 0;

  [[nodiscard]] bool half() const { return !half_keys.empty(); }
  [[nodiscard]] kernels::HalfKeyValues half_layer(std::size_t layer) const {
    return {half_keys[layer].data(), half_values[layer].data(), n_keys, n_heads, head_dim};
  }
};

// Releases host ranges made resident on a backend (kernels::Backend::make_resident) when it goes,
// through the function it was given. Move-only, so that one release runs once.
class ResidentRelease {
 public:
  ResidentRelease() = default;
  explicit ResidentRelease(std::function<void()> release) : release_(std::move(release)) {}
  ResidentRelease(ResidentRelease&& other) noexcept
      : release_(std::exchange(other.release_, nullptr)) {}
  ResidentRelease& operator=(ResidentRelease&& other) noexcept {
    if (this != &other) {
      reset();
      release_ = std::exchange(other.release_, nullptr);
    }
    return *this;
  }
  ResidentRelease(const ResidentRelease&) = delete;
  ResidentRelease& operator=(const ResidentRelease&) = delete;
  ~ResidentRelease() { reset(); }

  void reset() {
    if (release_) std::exchange(release_, nullptr)();
  }
  [[nodiscard]] bool held() const { return static_cast<bool>(release_); }

 private:
  std::function<void()> release_;
};

// One sequence's self-attention cache: one row per token fed so far; rows past the state's
// length are unset.
struct SequenceCache {
  std::vector<UninitializedFloats> keys;    // per layer: [n_text_ctx, n_state]
  std::vector<UninitializedFloats> values;  // per layer: [n_text_ctx, n_state]
  // Held while the buffers are resident rows on the model's backend (Backend::make_resident_rows),
  // which the model makes them when it first decodes them. A move keeps the buffers, and so their
  // device copies; declared last, so that the rows are released before their storage is freed.
  ResidentRelease resident;
};

// Decoder state for a batch of sequences of equal length (the beams of a beam search, say).
struct DecoderState {
  int length = 0;     // tokens fed to each sequence so far
  int row_width = 0;  // values per cache row (the model width)
  std::shared_ptr<const CrossAttentionCache> cross;
  std::vector<SequenceCache> sequences;
  // The first shared_length rows are the same in every sequence (the prompt, fed to one
  // sequence before the beams or samples fork from it): they are kept once, in `shared`, and
  // row i >= shared_length of a sequence is row i - shared_length of its own cache. The rows stay
  // the resident rows of the sequence they were (shared.resident), until the state goes.
  int shared_length = 0;
  SequenceCache shared;
  // Told when reorder() copies a sequence's rows over another's (from, to, floats per layer), so
  // that the model's backend copies its device rows too; set by WhisperModel::start_decoding.
  std::function<void(const SequenceCache&, SequenceCache&, std::size_t)> on_copy;

  // Keeps sequence order[i] as the new sequence i (beam search's reordering). A sequence kept
  // once is moved, not copied; a duplicate copies only its own rows filled so far, into the
  // storage of a dropped sequence when there is one. One sequence forking into several hands
  // its rows to `shared` instead of copying them.
  void reorder(std::span<const int> order);
};

// Cross-attention scores (scaled query-key products, before the softmax) of chosen heads, for
// aligning tokens with audio frames.
struct AttentionCapture {
  std::vector<std::pair<int, int>> heads;  // (layer, head)
  std::vector<float> scores;               // filled: [heads.size(), rows, n_audio_ctx]
};

// One decoder state's part of a step (WhisperModel::decode_batch): the state is fed
// tokens.size() / batch new tokens per sequence (tokens grouped by sequence), and `logits` gets
// [positions.size(), n_vocab] for the given rows of that [batch * new_tokens] block. `capture`,
// if set, records the cross-attention of its heads over this state's rows.
struct DecodeStep {
  DecoderState* state = nullptr;
  std::span<const int> tokens;
  std::span<const int> positions;
  AttentionCapture* capture = nullptr;
  std::vector<float> logits;  // filled by the step
};

// Time spent in the model since it was loaded, summed over every thread (for benchmarks).
struct ModelStats {
  double encoder_seconds = 0;       // encode() and cross_attention_cache()
  double decoder_seconds = 0;       // decoder steps
  std::int64_t decoder_calls = 0;   // decoder steps; a step over several states counts once
  std::int64_t decoded_tokens = 0;  // token rows fed to the decoder
  // Steps that carried several states at once (concurrent requests merged by DecodeBatcher),
  // and the states and token rows they carried.
  std::int64_t batched_calls = 0;
  std::int64_t batched_states = 0;
  std::int64_t batched_tokens = 0;
  // A device backend's bus traffic and waits during decoder steps; none on the CPU.
  std::optional<kernels::DeviceTraffic> decoder_traffic;
};

class WhisperModel {
 public:
  // Without a precision: kReduced for int8 weights, kFloat32 for float32 weights.
  WhisperModel(WhisperWeights weights, std::unique_ptr<kernels::Backend> backend,
               std::optional<AttentionPrecision> precision = std::nullopt);
  ~WhisperModel();
  WhisperModel(const WhisperModel&) = delete;
  WhisperModel& operator=(const WhisperModel&) = delete;
  // A move keeps the weights' and caches' memory where it is, so what is resident stays valid.
  WhisperModel(WhisperModel&&) noexcept = default;
  WhisperModel& operator=(WhisperModel&&) = delete;

  [[nodiscard]] const WhisperWeights& weights() const { return weights_; }
  [[nodiscard]] kernels::Backend& backend() const { return *backend_; }
  [[nodiscard]] AttentionPrecision attention_precision() const { return precision_; }

  // Number of mel frames in one window (two per encoder position: conv2 has stride 2).
  [[nodiscard]] int window_frames() const { return 2 * weights_.n_audio_ctx; }

  // mel: [n_mels, window_frames()] row-major. Returns the encoder output [n_audio_ctx, n_state].
  [[nodiscard]] std::vector<float> encode(std::span<const float> mel) const;

  // Several windows at once: every dense layer runs over all their positions as one product
  // (the weights read once for all), attention per window. Outputs in the order of `mels`.
  [[nodiscard]] std::vector<std::vector<float>> encode_batch(
      std::span<const std::vector<float>> mels) const;

  [[nodiscard]] std::shared_ptr<const CrossAttentionCache> cross_attention_cache(
      std::span<const float> encoder_output) const;

  // A decoder state with `batch` empty sequences attending to one window.
  [[nodiscard]] DecoderState start_decoding(std::shared_ptr<const CrossAttentionCache> cross,
                                            int batch = 1) const;

  [[nodiscard]] ModelStats stats() const;

  // Throws Error if `step` does not fit its state or the model (ragged batch, token id out of
  // range, context full). decode_batch checks every step too; a caller that shares a step with
  // others checks its own first, so that its mistake fails only itself.
  void check_step(const DecodeStep& step) const;

  // One decoder step for several states (each at most once), each with its own cross-attention
  // cache, length and number of sequences. Every projection (attention, feed-forward, logits)
  // runs once over all the states' rows, so the weights are read once per step however many
  // requests share it; only the attentions run per state. With int8 weights every state gets
  // the logits decode() gives it alone, bit for bit (int8 products treat rows independently);
  // float32 products may round differently with the number of rows.
  void decode_batch(std::span<DecodeStep> steps) const;

  // The one-state case of decode_batch; returns the step's logits.
  [[nodiscard]] std::vector<float> decode(DecoderState& state, std::span<const int> tokens,
                                          std::span<const int> positions,
                                          AttentionCapture* capture = nullptr) const;

 private:
  struct Counters {
    std::atomic<std::int64_t> encoder_ns{0};
    std::atomic<std::int64_t> decoder_ns{0};
    std::atomic<std::int64_t> decoder_calls{0};
    std::atomic<std::int64_t> decoded_tokens{0};
    std::atomic<std::int64_t> batched_calls{0};
    std::atomic<std::int64_t> batched_states{0};
    std::atomic<std::int64_t> batched_tokens{0};
    kernels::TrafficCounter decoder_traffic;  // a device backend's, during decoder steps
  };
  // Where each step's rows lie in the rows of a decode_batch.
  struct StepRows {
    int first = 0;       // first row in the batch
    int rows = 0;        // batch * new_tokens
    int new_tokens = 0;  // per sequence
  };

  // Self-attention of `windows` windows of n_audio_ctx positions each, stacked in x.
  void encoder_self_attention(const SelfAttention& layer, std::vector<float>& x, int windows) const;
  // conv1, conv2 (GELU after each) and the positions: x gets [windows * n_audio_ctx, n_state].
  void encoder_stem(std::span<const std::vector<float>> mels, std::vector<float>& x) const;
  struct CachePool;
  // Makes `sequence`'s buffers resident rows on the pool's backend, released through the pool (so
  // that a sequence outliving its model releases nothing).
  static void make_rows_resident(const std::shared_ptr<CachePool>& pool, SequenceCache& sequence);
  // Releases `buffers` on the pool's backend when it goes, if the pool and its backend still are.
  static ResidentRelease release_through(const std::shared_ptr<CachePool>& pool,
                                         std::vector<const void*> buffers);
  void decoder_self_attention(const SelfAttention& layer, int layer_index, std::vector<float>& x,
                              std::span<DecodeStep> steps, std::span<const StepRows> layout) const;
  void cross_attention(const CrossAttention& layer, int layer_index, std::vector<float>& x,
                       std::span<DecodeStep> steps, std::span<const StepRows> layout) const;
  // One state's cross-attention over a float16 cache (capture's heads of this layer included).
  void half_cross_attention(const DecodeStep& step, int layer_index, const float* queries, int rows,
                            float* context) const;
  void feed_forward(const FeedForward& layer, std::vector<float>& x, int rows) const;
  // decode_batch's first and last steps: x [rows, n_state] gets each step's token embeddings plus
  // positions (and a capture's scores are sized); the rows of x that steps ask for, normalised,
  // give their logits (n_out rows in all).
  // Sizes this thread's workspace for a decoder step of `rows` rows and returns its activation
  // buffers, which a device may keep for the step.
  [[nodiscard]] std::vector<std::span<float>> step_buffers(int rows) const;
  void embed_steps(std::span<DecodeStep> steps, std::span<const StepRows> layout,
                   std::vector<float>& x) const;
  void step_logits(std::span<DecodeStep> steps, std::span<const StepRows> layout,
                   const std::vector<float>& x, int n_out) const;
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
  AttentionPrecision precision_;
  // Compute kernels hold no per-request state, so one backend serves every concurrent request.
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<Counters> counters_ = std::make_unique<Counters>();
  // Cross-attention caches of finished windows, kept for the next ones (37 MiB each for base in
  // float32, 18.5 MiB in float16):
  // reusing them spares every window the page faults of fresh memory. A cache in use is resident
  // on the backend (kernels::Backend::make_resident); the last holder releases it through
  // `backend`, which the model's destructor clears before the backend goes.
  struct CachePool {
    std::mutex mutex;
    std::vector<std::unique_ptr<CrossAttentionCache>> spare;
    kernels::Backend* backend = nullptr;
  };
  std::shared_ptr<CachePool> cache_pool_ = std::make_shared<CachePool>();
};

}  // namespace amanuensis::model
