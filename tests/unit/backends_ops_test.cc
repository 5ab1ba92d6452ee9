// Every backend, op by op, against the CPU backend (the reference) on the same inputs.
//
// Backends: cpu (the provider's, 2 threads, vs the 1-thread reference), opencl (PoCL here),
// cuda and npu (skipped, with the probe's reason, where absent), npu-emulated (the NPU backend's
// whole host path with the tile products computed by the CPU reference runner) and cuda-fp16.
//
// Tolerances, per backend (products relative to the sum of |terms| of each output; attention
// relative to max |v|; element-wise ops relative to |reference| plus an absolute floor):
//   cpu, opencl, cuda:      products 1e-4, element-wise 1e-5 + 1e-6
//   npu-emulated:           products 1e-2 (bfloat16 inputs), element-wise exact (CPU)
//   cuda-fp16:              products 1e-2 (float16 inputs), element-wise 1e-5 + 1e-6
//   int8 products:          1e-5 of the terms (int32 sums are exact; only the float scaling
//                           may round differently), on every backend
//   log-mel spectrogram:    1e-3 absolute in Whisper's scaled log10 units
#include "unit/backends_ops_test.h"

namespace amanuensis::backends::ops_test {
namespace {

// Sum over k of |a[r, k] op(b)[k, c]| for each output.
std::vector<double> product_magnitude(MatrixView a, MatrixView b, bool transpose_b, int rows,
                                      int cols) {
  std::vector<double> m(static_cast<std::size_t>(rows) * cols, 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      double sum = 0;
      for (int k = 0; k < a.cols; ++k) {
        const float bv = transpose_b ? b.data[static_cast<std::size_t>(c) * b.ld + k]
                                     : b.data[static_cast<std::size_t>(k) * b.ld + c];
        sum += std::fabs(static_cast<double>(a.data[static_cast<std::size_t>(r) * a.ld + k]) * bv);
      }
      m[static_cast<std::size_t>(r) * cols + c] = sum;
    }
  }
  return m;
}

TEST_P(OpsTest, MatmulPlainTransposedScaledAndStrided) {
  for (const auto& [m, n, k, transpose] :
       {std::tuple{1, 7, 5, true}, {5, 9, 12, true}, {33, 70, 65, false}, {130, 40, 200, true}}) {
    SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
    // A and C live inside wider matrices (row strides above their widths), as attention heads do.
    const int lda = k + 3;
    const int ldc = n + 5;
    const auto a = random_values(static_cast<std::size_t>(m) * lda, 1.0F, 1);
    const auto b = random_values(static_cast<std::size_t>(n) * k, 1.0F, 2);
    const auto c0 = random_values(static_cast<std::size_t>(m) * ldc, 1.0F, 3);
    const MatrixView av{a.data(), m, k, lda};
    const MatrixView bv = transpose ? MatrixView{b.data(), n, k, k} : MatrixView{b.data(), k, n, n};
    for (const auto& [alpha, beta] : {std::pair{1.0F, 0.0F}, {0.5F, 0.25F}}) {
      auto got = c0;
      auto want = c0;
      backend_->matmul(av, bv, transpose, alpha, beta, {got.data(), m, n, ldc});
      reference_->matmul(av, bv, transpose, alpha, beta, {want.data(), m, n, ldc});
      const auto mag = product_magnitude(av, bv, transpose, m, n);
      for (int r = 0; r < m; ++r) {
        for (int c = 0; c < ldc; ++c) {
          const auto i = static_cast<std::size_t>(r) * ldc + c;
          if (c >= n) {
            ASSERT_EQ(got[i], c0[i]) << "wrote outside the view at row " << r << " column " << c;
          } else {
            ASSERT_NEAR(
                got[i], want[i],
                GetParam().product_tolerance * (alpha * mag[static_cast<std::size_t>(r) * n + c] +
                                                std::fabs(beta * c0[i])) +
                    1e-6);
          }
        }
      }
    }
  }
}

TEST_P(OpsTest, LinearWithAndWithoutBias) {
  for (const auto& [m, n, k] :
       {std::tuple{1, 300, 64}, {3, 517, 128}, {9, 40, 33}, {200, 96, 80}}) {
    SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
    const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 4);
    const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 5);
    const auto bias = random_values(n, 1.0F, 6);
    const auto mag = product_magnitude({x.data(), m, k, k}, {w.data(), n, k, k}, true, m, n);
    for (const bool with_bias : {true, false}) {
      const std::span<const float> b =
          with_bias ? std::span<const float>(bias) : std::span<const float>();
      std::vector<float> got(static_cast<std::size_t>(m) * n);
      std::vector<float> want(got.size());
      backend_->linear({x.data(), m, k, k}, {w.data(), n, k, k}, b, {got.data(), m, n, n});
      reference_->linear({x.data(), m, k, k}, {w.data(), n, k, k}, b, {want.data(), m, n, n});
      expect_close(got, want, mag, GetParam().product_tolerance, 1e-6,
                   with_bias ? "with bias" : "without bias");
      // Twice: the second call finds the weights in the device cache.
      std::vector<float> again(got.size());
      backend_->linear({x.data(), m, k, k}, {w.data(), n, k, k}, b, {again.data(), m, n, n});
      ASSERT_EQ(again, got);
    }
  }
}

TEST_P(OpsTest, LinearInt8) {
  for (const auto& [m, n, k] : {std::tuple{1, 51, 70}, {5, 100, 512}, {96, 64, 240}}) {
    SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
    const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 9);
    const auto w = random_values(static_cast<std::size_t>(n) * k, 0.05F, 10);
    const auto bias = random_values(n, 1.0F, 11);
    const auto wq = kernels::quantize_int8(w.data(), n, k, k);
    std::vector<float> got(static_cast<std::size_t>(m) * n);
    std::vector<float> want(got.size());
    backend_->linear_int8({x.data(), m, k, k}, wq, bias, {got.data(), m, n, n});
    if (quantises_in_8_bits()) {
      // A device quantises activations to 8 bits; the CPU's avx2 path takes 7 (int8_gemm.h): the
      // reference is then the portable 8-bit product.
      kernels::QuantizedRows a;
      kernels::quantize_rows(kernels::CpuIsa::kGeneric, x.data(), m, k, k, wq, a);
      kernels::int8_gemm(kernels::CpuIsa::kGeneric, a, 0, m, wq, 0, wq.padded_rows, bias.data(),
                         want.data(), n);
    } else {
      reference_->linear_int8({x.data(), m, k, k}, wq, bias, {want.data(), m, n, n});
    }
    const auto mag = product_magnitude({x.data(), m, k, k}, {w.data(), n, k, k}, true, m, n);
    expect_close(got, want, mag, 1e-5, 1e-6, "int8");
  }
}

// A kernel-3 convolution as the encoder's stem computes it: unfold (im2col), then a dense layer.
TEST_P(OpsTest, Conv1dAsUnfoldedProduct) {
  const int channels = 24, out_channels = 32, length = 61;
  const auto input = random_values(static_cast<std::size_t>(channels) * length, 1.0F, 12);
  const auto w = random_values(static_cast<std::size_t>(out_channels) * channels * 3, 0.2F, 13);
  const auto bias = random_values(out_channels, 0.5F, 14);
  for (const int stride : {1, 2}) {
    const int out_length = (length - 1) / stride + 1;
    std::vector<float> columns(static_cast<std::size_t>(out_length) * channels * 3, 0.0F);
    for (int t = 0; t < out_length; ++t) {
      for (int tap = 0; tap < 3; ++tap) {
        const int source = t * stride + tap - 1;
        if (source < 0 || source >= length) continue;
        for (int c = 0; c < channels; ++c) {
          columns[(static_cast<std::size_t>(t) * channels + c) * 3 + tap] =
              input[static_cast<std::size_t>(c) * length + source];
        }
      }
    }
    const int k = channels * 3;
    std::vector<float> got(static_cast<std::size_t>(out_length) * out_channels);
    std::vector<float> want(got.size());
    backend_->linear({columns.data(), out_length, k, k}, {w.data(), out_channels, k, k}, bias,
                     {got.data(), out_length, out_channels, out_channels});
    reference_->linear({columns.data(), out_length, k, k}, {w.data(), out_channels, k, k}, bias,
                       {want.data(), out_length, out_channels, out_channels});
    const auto mag =
        product_magnitude({columns.data(), out_length, k, k}, {w.data(), out_channels, k, k}, true,
                          out_length, out_channels);
    expect_close(got, want, mag, GetParam().product_tolerance, 1e-6,
                 "stride " + std::to_string(stride));
  }
}

TEST_P(OpsTest, AttentionFullAndCausalOnStridedHeads) {
  for (const auto& [rows, keys, heads, head_dim, causal] : {std::tuple{1, 37, 6, 64, -1},
                                                            {4, 4, 6, 64, 0},
                                                            {3, 12, 4, 32, 9},
                                                            {70, 300, 6, 64, -1},
                                                            {70, 70, 2, 64, 0}}) {
    SCOPED_TRACE("rows=" + std::to_string(rows) + " keys=" + std::to_string(keys) +
                 " causal=" + std::to_string(causal));
    const int d = heads * head_dim;
    // q, k and v side by side in one [*, 3d] matrix, as the fused projection leaves them.
    const auto q = random_values(static_cast<std::size_t>(rows) * 3 * d, 1.0F, 15);
    const auto kv = random_values(static_cast<std::size_t>(keys) * 3 * d, 1.0F, 16);
    const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
    std::vector<float> got(static_cast<std::size_t>(rows) * d);
    std::vector<float> want(got.size());
    const MatrixView qv{q.data(), rows, d, 3 * d};
    const MatrixView kview{kv.data() + d, keys, d, 3 * d};
    const MatrixView vview{kv.data() + 2 * d, keys, d, 3 * d};
    backend_->attention(qv, kview, vview, heads, scale, causal, {got.data(), rows, d, d});
    reference_->attention(qv, kview, vview, heads, scale, causal, {want.data(), rows, d, d});
    double largest_v = 0;
    for (int r = 0; r < keys; ++r) {
      for (int c = 0; c < d; ++c)
        largest_v = std::max(
            largest_v,
            static_cast<double>(std::fabs(vview.data[static_cast<std::size_t>(r) * 3 * d + c])));
    }
    const std::vector<double> mag(got.size(), largest_v);
    expect_close(got, want, mag, GetParam().product_tolerance, 1e-6, "attention");
  }
}

// Decoding a batch: each sequence attends over its own cache. Whatever the backend runs side by
// side must equal the sequences one by one, bit for bit. Sets of 12, 2 and 3 tiny sequences take
// the CPU's per-sequence, per-head and single-thread paths; one of 20 rows the general one.
TEST_P(OpsTest, AttentionManyEqualsEachProblemAlone) {
  const int heads = 6;
  const int head_dim = 64;
  const int d = heads * head_dim;
  const float scale = 0.125F;
  struct Shape {
    int rows, keys, causal;
  };
  const std::vector<std::vector<Shape>> sets = {{{1, 40, 39},
                                                 {1, 41, 40},
                                                 {1, 200, 199},
                                                 {2, 50, 48},
                                                 {1, 7, 6},
                                                 {3, 90, 87},
                                                 {1, 1, 0},
                                                 {1, 120, -1},
                                                 {5, 64, 59},
                                                 {1, 33, 32},
                                                 {1, 300, 299},
                                                 {4, 4, 0}},
                                                {{1, 250, 249}, {2, 180, 178}},
                                                {{1, 3, 2}, {1, 4, 3}, {2, 5, 3}},
                                                {{1, 30, 29}, {20, 60, 40}}};
  std::uint32_t seed = 40;
  for (const auto& shapes : sets) {
    std::vector<std::vector<float>> qs;
    std::vector<std::vector<float>> kvs;
    for (const auto& shape : shapes) {
      qs.push_back(random_values(static_cast<std::size_t>(shape.rows) * d, 1.0F, ++seed));
      kvs.push_back(random_values(static_cast<std::size_t>(shape.keys) * 2 * d, 1.0F, ++seed));
    }
    std::vector<std::vector<float>> got;
    std::vector<std::vector<float>> want;
    std::vector<AttentionProblem> problems;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const auto& [rows, keys, causal] = shapes[i];
      got.emplace_back(static_cast<std::size_t>(rows) * d, -1.0F);
      want.emplace_back(got.back().size(), -2.0F);
      const MatrixView q{qs[i].data(), rows, d, d};
      const MatrixView k{kvs[i].data(), keys, d, 2 * d};
      const MatrixView v{kvs[i].data() + d, keys, d, 2 * d};
      problems.push_back({q, k, v, causal, {got.back().data(), rows, d, d}});
      backend_->attention(q, k, v, heads, scale, causal, {want.back().data(), rows, d, d});
    }
    backend_->attention_many(problems, heads, scale);
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      SCOPED_TRACE("set of " + std::to_string(shapes.size()) + ", problem " + std::to_string(i));
      EXPECT_EQ(got[i], want[i]);
    }
  }
}

TEST_P(OpsTest, AttentionWithHeadMajorKeys) {
  const int rows = 3, keys = 150, heads = 6, head_dim = 64, d = heads * head_dim;
  const auto q = random_values(static_cast<std::size_t>(rows) * d, 1.0F, 17);
  const auto k = random_values(static_cast<std::size_t>(heads) * keys * head_dim, 1.0F, 18);
  const auto v = random_values(static_cast<std::size_t>(heads) * keys * head_dim, 1.0F, 19);
  std::vector<float> got(static_cast<std::size_t>(rows) * d);
  std::vector<float> want(got.size());
  for (int step = 0; step < 2; ++step) {  // the second time from the device's window cache
    backend_->attention_head_major({q.data(), rows, d, d}, k.data(), v.data(), keys, heads, 0.125F,
                                   {got.data(), rows, d, d});
    reference_->attention_head_major({q.data(), rows, d, d}, k.data(), v.data(), keys, heads,
                                     0.125F, {want.data(), rows, d, d});
    double largest_v = 0;
    for (const float x : v) largest_v = std::max(largest_v, static_cast<double>(std::fabs(x)));
    expect_close(got, want, std::vector<double>(got.size(), largest_v),
                 GetParam().product_tolerance, 1e-6, "head-major attention");
  }
}

// The float16 cross-attention cache (decoding with int8 and float16 compute types): fused, and
// with two heads' scores handed out (word timestamps), which device backends run unfused.
TEST_P(OpsTest, AttentionWithHalfCache) {
  const int rows = 5, keys = 150, heads = 6, head_dim = 64, d = heads * head_dim;
  const float scale = 0.125F;
  const auto q = random_values(static_cast<std::size_t>(rows) * d, 1.0F, 27);
  const auto kv = random_values(static_cast<std::size_t>(keys) * 2 * d, 1.0F, 28);
  kernels::HalfKeyValues view{nullptr, nullptr, keys, heads, head_dim};
  std::vector<std::uint16_t> k(view.key_elements()), v(view.value_elements());
  kernels::pack_half_key_values(kv.data(), kv.data() + d, 2 * d, k.data(), v.data(), keys, heads,
                                head_dim);
  view.keys = k.data();
  view.values = v.data();
  double largest_v = 0;
  for (const float x : kernels::unpack_half(view, false))
    largest_v = std::max(largest_v, static_cast<double>(std::fabs(x)));
  const std::size_t block = static_cast<std::size_t>(rows) * keys;
  for (int step = 0; step < 3; ++step) {  // the second time from the device's window cache
    const bool with_scores = step == 2;
    std::vector<float> got(static_cast<std::size_t>(rows) * d), want(got.size());
    std::vector<float> got_scores(2 * block), want_scores(2 * block);
    std::vector<float*> got_heads, want_heads;
    if (with_scores) {
      got_heads = {nullptr, got_scores.data(),         nullptr,
                   nullptr, got_scores.data() + block, nullptr};
      want_heads = {nullptr, want_scores.data(),         nullptr,
                    nullptr, want_scores.data() + block, nullptr};
    }
    backend_->attention_half_cache({q.data(), rows, d, d}, view, scale, {got.data(), rows, d, d},
                                   got_heads);
    reference_->attention_half_cache({q.data(), rows, d, d}, view, scale, {want.data(), rows, d, d},
                                     want_heads);
    expect_close(got, want, std::vector<double>(got.size(), largest_v),
                 GetParam().product_tolerance, 1e-6, "float16-cache attention");
    if (!with_scores) continue;
    // Scores: relative to scale * sum |q| |k| over a row's 64 terms, bounded by 64 * 4 * 4.
    expect_close(got_scores, want_scores, std::vector<double>(got_scores.size(), scale * 1024.0),
                 GetParam().product_tolerance, 1e-6, "float16-cache scores");
  }
}

TEST_P(OpsTest, LayerNormOnAStridedView) {
  const int rows = 7, cols = 384, ld = 400;
  const auto x = random_values(static_cast<std::size_t>(rows) * ld, 2.0F, 20);
  const auto gamma = random_values(cols, 1.0F, 21);
  const auto beta = random_values(cols, 1.0F, 22);
  auto got = x;
  auto want = x;
  backend_->layer_norm({got.data(), rows, cols, ld}, gamma, beta, 1e-5F);
  reference_->layer_norm({want.data(), rows, cols, ld}, gamma, beta, 1e-5F);
  for (int r = 0; r < rows; ++r) {
    for (int c = cols; c < ld; ++c)
      ASSERT_EQ(got[static_cast<std::size_t>(r) * ld + c], x[static_cast<std::size_t>(r) * ld + c]);
  }
  expect_elementwise(got, want, "layer norm");
}

TEST_P(OpsTest, GeluSoftmaxAndAdd) {
  auto x = random_values(3001, 3.0F, 23);
  x.push_back(0.0F);
  x.push_back(-9.0F);
  x.push_back(9.0F);
  auto got = x;
  auto want = x;
  backend_->gelu(got);
  reference_->gelu(want);
  expect_elementwise(got, want, "gelu");

  for (const int causal : {-1, 0, 3}) {
    const int rows = 6, cols = 500;
    auto s = random_values(static_cast<std::size_t>(rows) * cols, 4.0F, 24);
    auto s_got = s;
    backend_->softmax_rows({s_got.data(), rows, cols, cols}, causal);
    reference_->softmax_rows({s.data(), rows, cols, cols}, causal);
    expect_elementwise(s_got, s, "softmax causal " + std::to_string(causal));
  }

  const auto y0 = random_values(x.size(), 1.0F, 25);
  auto y_got = y0;
  auto y_want = y0;
  backend_->add(x, y_got);
  reference_->add(x, y_want);
  ASSERT_EQ(y_got, y_want);
}

TEST_P(OpsTest, LogMelSpectrogram) {
  std::vector<float> audio(16000 * 2);
  std::mt19937 rng(26);
  std::normal_distribution<float> noise(0.0F, 0.01F);
  for (std::size_t i = 0; i < audio.size(); ++i) {
    const float t = static_cast<float>(i) / 16000.0F;
    audio[i] = 0.3F * std::sin(2.0F * 3.14159265F * 440.0F * t) +
               0.1F * std::sin(2.0F * 3.14159265F * 1250.0F * t) + noise(rng);
  }
  const auto got = features::compute_log_mel(audio, 80, *backend_);
  const auto want = features::compute_log_mel(audio, 80, *reference_);
  ASSERT_EQ(got.values.size(), want.values.size());
  for (std::size_t i = 0; i < got.values.size(); ++i)
    ASSERT_NEAR(got.values[i], want.values[i], 1e-3) << i;
}

// Runs gelu itself (counting its calls) and leaves every other op to its CPU fallback.
class GeluOnly final : public kernels::PartialBackend {
 public:
  GeluOnly() : PartialBackend(kernels::make_cpu_backend(1)) {}
  [[nodiscard]] std::string_view name() const override { return "gelu-only"; }
  [[nodiscard]] std::string describe() const override { return "gelu here, the rest on the cpu"; }
  [[nodiscard]] bool supports(kernels::Op op) const override { return op == kernels::Op::kGelu; }
  void gelu(std::span<float> x) override {
    ++gelu_calls;
    fallback().gelu(x);
  }
  int gelu_calls = 0;
};

TEST(PartialBackendTest, RunsItsOwnOpsAndLeavesTheRestToItsFallback) {
  GeluOnly partial;
  const auto cpu = kernels::make_cpu_backend(1);
  EXPECT_TRUE(partial.supports(kernels::Op::kGelu));
  EXPECT_FALSE(partial.supports(kernels::Op::kLinear));
  EXPECT_FALSE(partial.supports(kernels::Op::kAttentionHalfCache));
  EXPECT_TRUE(cpu->supports(kernels::Op::kLinear));
  const auto x = random_values(6 * 8, 1.0F, 34);
  const auto w = random_values(5 * 8, 0.5F, 35);
  const auto bias = random_values(5, 1.0F, 36);
  std::vector<float> got(6 * 5);
  std::vector<float> want(6 * 5);
  partial.linear({x.data(), 6, 8, 8}, {w.data(), 5, 8, 8}, bias, {got.data(), 6, 5, 5});
  cpu->linear({x.data(), 6, 8, 8}, {w.data(), 5, 8, 8}, bias, {want.data(), 6, 5, 5});
  EXPECT_EQ(got, want);
  partial.gelu(got);
  cpu->gelu(want);
  EXPECT_EQ(got, want);
  EXPECT_EQ(partial.gelu_calls, 1);
  partial.softmax_rows({got.data(), 6, 5, 5}, 0);
  cpu->softmax_rows({want.data(), 6, 5, 5}, 0);
  EXPECT_EQ(got, want);
}

TEST(PartialBackendTest, TheNpuRunsDenseLayersOnly) {
  const auto npu = npu::make_npu_backend(npu::make_reference_tile_runner({32, 64, 48}),
                                         kernels::make_cpu_backend(1), {.min_rows = 1});
  EXPECT_TRUE(npu->supports(kernels::Op::kLinear));
  EXPECT_FALSE(npu->supports(kernels::Op::kAttention));
  EXPECT_FALSE(npu->supports(kernels::Op::kLinearInt8));
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsTest,
                         ::testing::Values(Case{"cpu", 1e-4, 1e-5}, Case{"opencl", 1e-4, 1e-5},
                                           Case{"cuda", 1e-4, 1e-5}, Case{"npu", 1e-2, 0.0},
                                           Case{"npu-emulated", 1e-2, 0.0},
                                           Case{"cuda-fp16", 1e-2, 1e-5}),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (auto& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace amanuensis::backends::ops_test
