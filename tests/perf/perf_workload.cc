// A fixed, deterministic workload over the CPU kernels at tiny.en's sizes (width 384, 6 heads,
// feed-forward 1536): the float product of a convolution, one encoder layer over 256 positions
// (int8 projections, fused attention, layer norms, GELU), one beam-5 decoding step's cross-
// (float32 and float16 caches) and self-attention and an int8 output projection, and the
// search's log-sum-exp over a vocabulary.
// tests/perf/callgrind_guard.py counts the instructions inside run_workload() under callgrind:
// a full tiny.en encoder window takes over ten minutes there, this under a minute, and it
// exercises the same kernels. Weights are synthetic, so no model file is needed.
//
// `perf_workload int8` runs run_int8_workload() instead: the int8 products alone (an encoder
// layer's four and a decoding step's output projection, at 1, 5 and 17 rows as well), which the
// guard counts on their own so that a regression of the int8 kernel cannot hide inside the 10 %
// tolerance of the whole workload.
//
//   perf_workload [int8]
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/backend.h"
#include "kernels/half_cache.h"
#include "kernels/int8_gemm.h"
#include "kernels/vector_ops.h"

namespace {

namespace k = amanuensis::kernels;

constexpr int kWidth = 384;
constexpr int kHeads = 6;
constexpr int kHidden = 1536;
constexpr int kPositions = 256;
constexpr int kAudioContext = 1500;
constexpr int kBeams = 5;
constexpr int kPastTokens = 40;
constexpr int kVocabulary = 51864;
constexpr int kLogitRows = 4096;

// Deterministic values in [-scale, scale].
std::vector<float> values(std::size_t n, float scale, unsigned seed) {
  std::vector<float> out(n);
  unsigned state = seed * 2654435761U + 1;
  for (auto& v : out) {
    state = state * 1664525U + 1013904223U;
    v = scale * (static_cast<float>(state >> 8) / 8388608.0F - 1.0F);
  }
  return out;
}

k::Int8Matrix int8_weights(int rows, int cols, unsigned seed) {
  const auto w = values(static_cast<std::size_t>(rows) * cols, 0.05F, seed);
  return k::quantize_int8(w.data(), rows, cols, cols);
}

struct Inputs {
  std::vector<float> conv_columns =
      values(static_cast<std::size_t>(kPositions) * 3 * kWidth, 1.0F, 1);
  std::vector<float> conv_weights = values(static_cast<std::size_t>(kWidth) * 3 * kWidth, 0.05F, 2);
  std::vector<float> bias = values(kHidden, 0.1F, 3);
  std::vector<float> gamma = values(kWidth, 1.0F, 4);
  std::vector<float> beta = values(kWidth, 0.1F, 5);
  k::Int8Matrix qkv = int8_weights(3 * kWidth, kWidth, 6);
  k::Int8Matrix out = int8_weights(kWidth, kWidth, 7);
  k::Int8Matrix up = int8_weights(kHidden, kWidth, 8);
  k::Int8Matrix down = int8_weights(kWidth, kHidden, 9);
  k::Int8Matrix logits = int8_weights(kLogitRows, kWidth, 10);
  std::vector<float> cross_keys =
      values(static_cast<std::size_t>(kAudioContext) * kWidth, 1.0F, 11);
  std::vector<float> cross_values =
      values(static_cast<std::size_t>(kAudioContext) * kWidth, 1.0F, 12);
  // The same keys and values as the int8 compute type caches them: float16, keys transposed.
  std::vector<std::uint16_t> half_keys, half_values;
  k::HalfKeyValues half{nullptr, nullptr, kAudioContext, kHeads, kWidth / kHeads};
  std::vector<float> self_keys = values(static_cast<std::size_t>(kPastTokens) * kWidth, 1.0F, 13);
  std::vector<float> self_values = values(static_cast<std::size_t>(kPastTokens) * kWidth, 1.0F, 14);
  std::vector<float> vocabulary = values(static_cast<std::size_t>(kBeams) * kVocabulary, 8.0F, 15);

  Inputs() {
    half_keys.resize(half.key_elements());
    half_values.resize(half.value_elements());
    // cross_keys and cross_values are head-major ([heads][keys][head_dim]): one head at a time.
    const int head_dim = kWidth / kHeads;
    const k::HalfKeyValues one{nullptr, nullptr, kAudioContext, 1, head_dim};
    for (int h = 0; h < kHeads; ++h) {
      const auto offset = static_cast<std::size_t>(h) * kAudioContext * head_dim;
      k::pack_half_key_values(cross_keys.data() + offset, cross_values.data() + offset, head_dim,
                              half_keys.data() + h * one.key_elements(),
                              half_values.data() + h * one.value_elements(), kAudioContext, 1,
                              head_dim);
    }
    half.keys = half_keys.data();
    half.values = half_values.data();
  }
};

}  // namespace

// Not inlined: callgrind counts from its entry to its return.
extern "C" __attribute__((noinline)) double run_workload(k::Backend& backend, const Inputs& in) {
  const float scale = 1.0F / std::sqrt(static_cast<float>(kWidth / kHeads));
  // Convolution as a float product, then GELU.
  std::vector<float> x(static_cast<std::size_t>(kPositions) * kWidth);
  backend.linear({in.conv_columns.data(), kPositions, 3 * kWidth, 3 * kWidth},
                 {in.conv_weights.data(), kWidth, 3 * kWidth, 3 * kWidth}, {in.bias.data(), kWidth},
                 {x.data(), kPositions, kWidth, kWidth});
  backend.gelu(x);
  // One encoder layer.
  std::vector<float> normed = x;
  std::vector<float> qkv(static_cast<std::size_t>(kPositions) * 3 * kWidth);
  std::vector<float> context(static_cast<std::size_t>(kPositions) * kWidth);
  std::vector<float> projected(static_cast<std::size_t>(kPositions) * kWidth);
  std::vector<float> hidden(static_cast<std::size_t>(kPositions) * kHidden);
  backend.layer_norm({normed.data(), kPositions, kWidth, kWidth}, in.gamma, in.beta, 1e-5F);
  backend.linear_int8({normed.data(), kPositions, kWidth, kWidth}, in.qkv, {},
                      {qkv.data(), kPositions, 3 * kWidth, 3 * kWidth});
  backend.attention({qkv.data(), kPositions, kWidth, 3 * kWidth},
                    {qkv.data() + kWidth, kPositions, kWidth, 3 * kWidth},
                    {qkv.data() + 2 * kWidth, kPositions, kWidth, 3 * kWidth}, kHeads, scale, -1,
                    {context.data(), kPositions, kWidth, kWidth});
  backend.linear_int8({context.data(), kPositions, kWidth, kWidth}, in.out,
                      {in.bias.data(), kWidth}, {projected.data(), kPositions, kWidth, kWidth});
  backend.add(projected, x);
  normed = x;
  backend.layer_norm({normed.data(), kPositions, kWidth, kWidth}, in.gamma, in.beta, 1e-5F);
  backend.linear_int8({normed.data(), kPositions, kWidth, kWidth}, in.up, {in.bias.data(), kHidden},
                      {hidden.data(), kPositions, kHidden, kHidden});
  backend.gelu(hidden);
  backend.linear_int8({hidden.data(), kPositions, kHidden, kHidden}, in.down, {},
                      {projected.data(), kPositions, kWidth, kWidth});
  backend.add(projected, x);
  // One beam-5 decoding step: self-attention of each beam over its past, cross-attention of all
  // beams over the window (head by head), the output projection.
  const float* queries = x.data();
  std::vector<float> step(static_cast<std::size_t>(kBeams) * kWidth);
  for (int b = 0; b < kBeams; ++b) {
    backend.attention({queries + static_cast<std::size_t>(b) * kWidth, 1, kWidth, kWidth},
                      {in.self_keys.data(), kPastTokens, kWidth, kWidth},
                      {in.self_values.data(), kPastTokens, kWidth, kWidth}, kHeads, scale,
                      kPastTokens - 1,
                      {step.data() + static_cast<std::size_t>(b) * kWidth, 1, kWidth, kWidth});
  }
  backend.attention_head_major({queries, kBeams, kWidth, kWidth}, in.cross_keys.data(),
                               in.cross_values.data(), kAudioContext, kHeads, scale,
                               {step.data(), kBeams, kWidth, kWidth});
  // The same with the float16 cache of the int8 and float16 compute types.
  backend.attention_half_cache({queries, kBeams, kWidth, kWidth}, in.half, scale,
                               {step.data(), kBeams, kWidth, kWidth}, {});
  backend.layer_norm({step.data(), kBeams, kWidth, kWidth}, in.gamma, in.beta, 1e-5F);
  std::vector<float> logits(static_cast<std::size_t>(kBeams) * kLogitRows);
  backend.linear_int8({step.data(), kBeams, kWidth, kWidth}, in.logits, {},
                      {logits.data(), kBeams, kLogitRows, kLogitRows});
  // The search's log-sum-exp over each beam's vocabulary.
  double checksum = 0;
  for (int b = 0; b < kBeams; ++b) {
    const float* row = in.vocabulary.data() + static_cast<std::size_t>(b) * kVocabulary;
    const float max_logit = k::max_value(row, kVocabulary);
    checksum += std::log(k::sum_exp(row, kVocabulary, max_logit)) + max_logit;
  }
  for (const float v : x) checksum += v;
  for (const float v : logits) checksum += v;
  return checksum;
}

// Not inlined: callgrind counts from its entry to its return.
extern "C" __attribute__((noinline)) double run_int8_workload(k::Backend& backend,
                                                              const Inputs& in) {
  const std::vector<float> x = values(static_cast<std::size_t>(kPositions) * kHidden, 1.0F, 16);
  std::vector<float> y(static_cast<std::size_t>(kPositions) * kLogitRows);
  double checksum = 0;
  const auto product = [&](int rows, const k::Int8Matrix& w, bool bias) {
    backend.linear_int8(
        {x.data(), rows, w.cols, w.cols}, w,
        bias ? std::span<const float>(in.bias.data(), w.rows) : std::span<const float>(),
        {y.data(), rows, w.rows, w.rows});
    checksum += y[0] + y[static_cast<std::size_t>(rows) * w.rows - 1];
  };
  for (const auto* w : {&in.qkv, &in.out, &in.up, &in.down}) product(kPositions, *w, w != &in.qkv);
  for (const int rows : {1, kBeams, 17}) {
    product(rows, in.qkv, false);
    product(rows, in.down, true);
    product(rows, in.logits, false);
  }
  return checksum;
}

int main(int argc, char** argv) {
  const Inputs inputs;
  const auto backend = k::make_cpu_backend(1);
  const bool int8_only = argc > 1 && std::strcmp(argv[1], "int8") == 0;
  const double checksum =
      int8_only ? run_int8_workload(*backend, inputs) : run_workload(*backend, inputs);
  std::printf("workload checksum %.6f (%s)\n", checksum, backend->describe().c_str());
  return std::isfinite(checksum) ? 0 : 1;
}
