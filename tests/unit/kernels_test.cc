// Every kernel against a plain loop, on every instruction set this machine runs.
// Tolerances: float32 element-wise ops 2e-6 relative (+1e-7 absolute; GELU + 2e-7 |x|); products
// 1e-4 relative to the sum of |terms|; int8 products bit for bit equal to the scalar reference on
// every path (a path this CPU lacks is skipped, with its name).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu_isa.h"
#include "kernels/flash_attention.h"
#include "kernels/flash_attention_i16.h"
#include "kernels/half_cache.h"
#include "kernels/int8_gemm.h"
#include "kernels/int8_gemm_internal.h"
#include "kernels/small_attention.h"
#include "kernels/thread_pool.h"
#include "kernels/vector_ops.h"
#include "support/random_values.h"
#include "support/vector_targets.h"

namespace amanuensis::kernels {
namespace {

using amanuensis::test_support::for_each_vector_target;
using amanuensis::test_support::random_values;

// AMANUENSIS_CPU_ISA: every name this build knows parses back to its path; a path the CPU runs is
// taken as forced; an unknown name or a path the CPU lacks falls back to the best one, with an
// error that names the value and what the CPU runs.
TEST(CpuIsa, OverrideTakesSupportedPathsAndReportsTheRest) {
  std::string warning;
  const CpuIsa best = choose_cpu_isa(nullptr, &warning);
  EXPECT_TRUE(warning.empty());
  EXPECT_TRUE(cpu_supports(best));
  EXPECT_TRUE(cpu_supports(CpuIsa::kGeneric));
  for (const auto isa : all_cpu_isas()) {
    const std::string name(cpu_isa_name(isa));
    ASSERT_EQ(parse_cpu_isa(name), isa) << name;
    warning.clear();
    const CpuIsa chosen = choose_cpu_isa(name.c_str(), &warning);
    if (cpu_supports(isa)) {
      EXPECT_EQ(chosen, isa) << name;
      EXPECT_TRUE(warning.empty()) << warning;
    } else {
      EXPECT_EQ(chosen, best) << name;
      EXPECT_NE(warning.find("AMANUENSIS_CPU_ISA=" + name), std::string::npos) << warning;
      EXPECT_NE(warning.find(supported_cpu_isa_names()), std::string::npos) << warning;
    }
  }
  warning.clear();
  EXPECT_EQ(choose_cpu_isa("avx9000", &warning), best);
  EXPECT_NE(warning.find("avx9000"), std::string::npos);
#if defined(__x86_64__)
  EXPECT_NE(warning.find("generic, avx2, avx_vnni, avx512"), std::string::npos) << warning;
#elif defined(__aarch64__)
  EXPECT_NE(warning.find("generic, neon, neon_dotprod, neon_i8mm"), std::string::npos) << warning;
#endif
  EXPECT_EQ(parse_cpu_isa("AVX2"), std::nullopt);  // names are lower case, as printed
}

TEST(VectorOps, GeluMatchesErfOnEveryTarget) {
  auto x = random_values(1027, 3.0F, 1);
  x.push_back(0.0F);
  x.push_back(-9.0F);
  x.push_back(9.0F);
  for_each_vector_target([&] {
    auto y = x;
    gelu(y.data(), y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double want = 0.5 * x[i] * (1.0 + std::erf(static_cast<double>(x[i]) / std::sqrt(2.0)));
      // Near erf = -1, 1 + erf cancels: the error is float rounding of erf, scaled by x.
      ASSERT_NEAR(y[i], want, 2e-6 * std::fabs(want) + 2e-7 * std::fabs(x[i]) + 1e-7)
          << "x=" << x[i];
    }
  });
}

TEST(VectorOps, SoftmaxRowMatchesNaiveOnEveryTarget) {
  const auto x = random_values(1500, 4.0F, 2);
  for_each_vector_target([&] {
    for (const int visible : {1, 7, 16, 1000, 1500}) {
      auto y = x;
      softmax_row(y.data(), visible, static_cast<int>(y.size()));
      double max_value = -1e30;
      for (int i = 0; i < visible; ++i) max_value = std::max(max_value, static_cast<double>(x[i]));
      double sum = 0;
      for (int i = 0; i < visible; ++i) sum += std::exp(x[i] - max_value);
      for (int i = 0; i < visible; ++i) {
        const double want = std::exp(x[i] - max_value) / sum;
        ASSERT_NEAR(y[i], want, 2e-6 * want + 1e-9);
      }
      for (std::size_t i = visible; i < y.size(); ++i) ASSERT_EQ(y[i], 0.0F);
    }
  });
}

TEST(VectorOps, LayerNormAddMaxAbsOnEveryTarget) {
  const int n = 515;
  const auto x = random_values(n, 2.0F, 3);
  const auto gamma = random_values(n, 1.0F, 4);
  const auto beta = random_values(n, 1.0F, 5);
  for_each_vector_target([&] {
    auto y = x;
    layer_norm_row(y.data(), gamma.data(), beta.data(), n, 1e-5F);
    double mean = 0, var = 0;
    for (const float v : x) mean += v;
    mean /= n;
    for (const float v : x) var += (v - mean) * (v - mean);
    var /= n;
    for (int i = 0; i < n; ++i) {
      const double want = (x[i] - mean) / std::sqrt(var + 1e-5) * gamma[i] + beta[i];
      ASSERT_NEAR(y[i], want, 1e-5 * (std::fabs(want) + 1.0));
    }
    auto z = x;
    add(gamma.data(), z.data(), z.size());
    for (int i = 0; i < n; ++i) ASSERT_EQ(z[i], x[i] + gamma[i]);
    float want_max = 0;
    for (const float v : x) want_max = std::max(want_max, std::fabs(v));
    ASSERT_EQ(max_abs(x.data(), x.size()), want_max);
  });
}

// One head of flash_attention against softmax and products in double. q, k and v live inside
// wider matrices (row strides larger than head_dim), like one head of a layer's q|k|v; columns
// of `out` outside the head stay untouched. Tolerance: 1e-5 max abs error on outputs of size
// ~1 (float32 rounding of 64-term dot products and exp; measured about 1e-6).
struct FlashCase {
  int rows, keys, head_dim, causal_offset;
  float q_scale;  // larger spreads the scores, which exercises the online rescaling
};

double flash_attention_error(const FlashCase& c) {
  const int q_ld = c.head_dim + 5, kv_ld = 2 * c.head_dim + 3, out_ld = c.head_dim + 7;
  const auto q = random_values(static_cast<std::size_t>(c.rows) * q_ld, c.q_scale, 19);
  const auto kv = random_values(static_cast<std::size_t>(c.keys) * kv_ld, 1.0F, 20);
  const float* k = kv.data() + 1;
  const float* v = kv.data() + 2 + c.head_dim;
  const float scale = 1.0F / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> out(static_cast<std::size_t>(c.rows) * out_ld, -7.0F);
  flash_attention(q.data(), q_ld, c.rows, k, kv_ld, v, kv_ld, c.keys, c.head_dim, scale,
                  c.causal_offset, out.data() + 2, out_ld);
  double error = 0;
  std::vector<double> p(c.keys);
  for (int r = 0; r < c.rows; ++r) {
    const int visible = c.causal_offset < 0 ? c.keys : std::min(c.keys, r + c.causal_offset + 1);
    double max_value = -1e300, sum = 0;
    for (int j = 0; j < visible; ++j) {
      double dot = 0;
      for (int i = 0; i < c.head_dim; ++i)
        dot += static_cast<double>(q[r * q_ld + i]) * k[j * kv_ld + i];
      p[j] = dot * scale;
      max_value = std::max(max_value, p[j]);
    }
    for (int j = 0; j < visible; ++j) sum += (p[j] = std::exp(p[j] - max_value));
    const float* got = out.data() + static_cast<std::size_t>(r) * out_ld;
    for (int i = 0; i < c.head_dim; ++i) {
      double want = 0;
      for (int j = 0; j < visible; ++j) want += p[j] * v[j * kv_ld + i];
      error = std::max(error, std::fabs(got[2 + i] - want / sum));
    }
    for (int i = 0; i < 2; ++i) EXPECT_EQ(got[i], -7.0F);
    for (int i = c.head_dim + 2; i < out_ld; ++i) EXPECT_EQ(got[i], -7.0F);
  }
  return error;
}

TEST(FlashAttention, MatchesDoubleReferenceOnEveryTarget) {
  for_each_vector_target([&] {
    for (const auto& c : {FlashCase{200, 300, 64, -1, 1.0F},
                          {37, 53, 64, -1, 1.0F},
                          {37, 53, 24, -1, 3.0F},
                          {1, 5, 64, -1, 1.0F},
                          {130, 130, 64, 0, 3.0F},
                          {70, 200, 16, 129, 1.0F},
                          {29, 61, 13, 2, 1.0F},
                          {100, 90, 64, 3, 1.0F},
                          {49, 1500, 64, -1, 5.0F}}) {
      SCOPED_TRACE(testing::Message() << c.rows << "x" << c.keys << " head_dim " << c.head_dim
                                      << " causal " << c.causal_offset);
      EXPECT_LT(flash_attention_error(c), 1e-5);
    }
  });
}

TEST(FlashAttention, MatchesDoubleReferenceAtEncoderSize) {
  EXPECT_LT(flash_attention_error({1500, 1500, 64, -1, 1.0F}), 1e-5);
  EXPECT_LT(flash_attention_error({1500, 1500, 64, 0, 2.0F}), 1e-5);
}

// Instruction sets compiled in that this CPU lacks are named, not silently passed over.
TEST(VectorOps, NamesTheInstructionSetsThisCpuCannotRun) {
  for (const auto& name : vector_ops_unsupported_targets())
    std::printf("[  SKIPPED ] kernel target %s: not supported by this CPU\n", name.c_str());
  SUCCEED();
}

// float_to_half rounds to the nearest binary16 (halves to even), half_to_float is exact: every
// finite half survives the round trip, and no neighbour of a rounded value is nearer.
TEST(HalfCache, ConversionsRoundToNearestEven) {
  for (int bits = 0; bits < 0x10000; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    if ((h & 0x7C00) == 0x7C00) continue;  // inf and NaN
    ASSERT_EQ(float_to_half(half_to_float(h)), h) << bits;
  }
  auto x = random_values(20000, 3.0F, 30);
  for (const float scale : {1e-6F, 1e-4F, 30.0F, 3000.0F}) {
    for (const float v : random_values(2000, scale, 31)) x.push_back(v);
  }
  for (const float v : {0.0F, -0.0F, 65504.0F, 65519.0F, 1e6F, -1e6F, 0x1p-25F, 0x1.8p-24F,
                        0x1p-24F, 1.0F + 0x1p-11F, 1.0F + 0x1.8p-10F})
    x.push_back(v);
  for (const float v : x) {
    const std::uint16_t h = float_to_half(v);
    const double target = std::clamp(static_cast<double>(v), -65504.0, 65504.0);
    const double error = std::fabs(half_to_float(h) - target);
    for (const int step : {-1, 1}) {
      const auto neighbour = static_cast<std::uint16_t>(h + step);
      if ((neighbour & 0x7C00) == 0x7C00 || (neighbour & 0x7FFF) == 0x7FFF) continue;
      if ((h & 0x7FFF) == 0 && step < 0) continue;  // below zero is the other sign
      const double other = std::fabs(half_to_float(neighbour) - target);
      ASSERT_TRUE(error < other || (error == other && (h & 1) == 0)) << v;
    }
  }
  EXPECT_EQ(float_to_half(1e6F), 0x7BFF);     // clamped to the largest half
  EXPECT_EQ(float_to_half(0x1p-25F), 0x0);    // a tie between 0 and the smallest subnormal
  EXPECT_EQ(float_to_half(0x1.8p-24F), 0x2);  // a tie between subnormals 1 and 2: even
}

// Keys and values of `heads` heads side by side in rows of width ld, as a layer's projection
// gives them, packed; the test reads elements back through the documented layout.
struct HalfPacked {
  std::vector<std::uint16_t> keys, values;
  HalfKeyValues view;
};

HalfPacked pack(const std::vector<float>& kv, int ld, int keys, int heads, int head_dim) {
  HalfPacked p;
  p.view = {nullptr, nullptr, keys, heads, head_dim};
  p.keys.assign(p.view.key_elements(), 0xFFFF);
  p.values.assign(p.view.value_elements(), 0xFFFF);
  pack_half_key_values(kv.data(), kv.data() + heads * head_dim, ld, p.keys.data(), p.values.data(),
                       keys, heads, head_dim);
  p.view.keys = p.keys.data();
  p.view.values = p.values.data();
  return p;
}

TEST(HalfCache, PackGivesTheSameBitsOnEveryTarget) {
  const int keys = 77, heads = 3, head_dim = 24, d = heads * head_dim, ld = 2 * d + 5;
  auto kv = random_values(static_cast<std::size_t>(keys) * ld, 2.0F, 32);
  kv[5] = 1e5F;   // beyond float16: clamped
  kv[7] = 1e-7F;  // subnormal in float16
  for_each_vector_target([&] {
    const auto p = pack(kv, ld, keys, heads, head_dim);
    for (int h = 0; h < heads; ++h) {
      for (int j = 0; j < p.view.tiles() * kHalfKeyTile; ++j) {
        for (int i = 0; i < head_dim; ++i) {
          const std::size_t at = h * p.view.key_head_size() +
                                 (j / kHalfKeyTile) * head_dim * kHalfKeyTile + i * kHalfKeyTile +
                                 j % kHalfKeyTile;
          const auto want = j < keys ? float_to_half(kv[j * ld + h * head_dim + i]) : 0;
          ASSERT_EQ(p.keys[at], want) << h << " " << j << " " << i;
          if (j >= keys) continue;
          ASSERT_EQ(p.values[h * p.view.value_head_size() + j * head_dim + i],
                    float_to_half(kv[j * ld + d + h * head_dim + i]));
        }
      }
    }
  });
}

// half_cache_attention against softmax and products in double over the same float16 values.
// Tolerance: 1e-5 absolute on outputs (values ~1; float32 accumulation over up to 1500 keys
// measured a few 1e-7) and 1e-5 relative to the sum of |terms| for the scores.
double half_attention_error(int rows, int keys, int head_dim, float q_scale) {
  const int heads = 2, d = heads * head_dim, ld = 2 * d;
  const auto kv = random_values(static_cast<std::size_t>(keys) * ld, 1.0F, 33);
  const auto p = pack(kv, ld, keys, heads, head_dim);
  const int q_ld = d + 3, out_ld = d + 5;
  const auto q = random_values(static_cast<std::size_t>(rows) * q_ld, q_scale, 34);
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> k(static_cast<std::size_t>(keys) * head_dim), v(k.size());
  std::vector<float> out(static_cast<std::size_t>(rows) * out_ld, -7.0F);
  std::vector<float> scores(static_cast<std::size_t>(rows) * keys);
  double error = 0;
  for (int h = 0; h < heads; ++h) {
    unpack_half_head(p.view, h, k.data(), v.data());
    half_cache_attention(q.data() + h * head_dim, q_ld, rows, p.view, h, scale, scores.data(),
                         out.data() + h * head_dim, out_ld);
    std::vector<double> w(keys);
    for (int r = 0; r < rows; ++r) {
      double top = -1e300, sum = 0;
      for (int j = 0; j < keys; ++j) {
        double dot = 0, magnitude = 0;
        for (int i = 0; i < head_dim; ++i) {
          const double term =
              static_cast<double>(q[r * q_ld + h * head_dim + i]) * k[j * head_dim + i];
          dot += term;
          magnitude += std::fabs(term);
        }
        w[j] = dot * scale;
        EXPECT_NEAR(scores[r * keys + j], w[j], 1e-5 * magnitude * scale + 1e-7);
        top = std::max(top, w[j]);
      }
      for (auto& x : w) sum += (x = std::exp(x - top));
      for (int i = 0; i < head_dim; ++i) {
        double want = 0;
        for (int j = 0; j < keys; ++j) want += w[j] * v[j * head_dim + i];
        error = std::max(error, std::fabs(out[r * out_ld + h * head_dim + i] - want / sum));
      }
    }
  }
  for (int r = 0; r < rows; ++r) {
    for (int c = d; c < out_ld; ++c) EXPECT_EQ(out[r * out_ld + c], -7.0F);
  }
  return error;
}

TEST(HalfCache, AttentionMatchesDoubleReferenceOnEveryTarget) {
  for_each_vector_target([&] {
    for (const int keys : {1500, 1, 31, 33, 100, 1499}) {
      for (const int rows : {1, 2, 5, 6, 7, 8, 9, 13, 40}) {
        SCOPED_TRACE(testing::Message() << rows << " rows x " << keys << " keys");
        EXPECT_LT(half_attention_error(rows, keys, 64, 1.0F), 1e-5);
      }
    }
    // A head width that is no multiple of the vector length; spread-out scores.
    EXPECT_LT(half_attention_error(5, 211, 24, 4.0F), 1e-5);
    EXPECT_LT(half_attention_error(3, 70, 13, 1.0F), 1e-5);
  });
}

// One query row's attention in double over `keys` keys: out[i] = sum_j p_j value(j, i) / sum_j
// p_j with p_j = exp(score(j) - max); also, per output, sum_j p_j |value(j, i)| / sum_j p_j
// (`weighted`) and sum_j |value(j, i)| / sum_j p_j (`spread`), from which the tests' bounds come.
struct RowReference {
  std::vector<double> out, weighted, spread;
};
template <typename Score, typename Value>
RowReference attend_row_in_double(int keys, int dim, const Score& score, const Value& value) {
  std::vector<double> p(keys);
  double top = -1e300, sum = 0;
  for (int j = 0; j < keys; ++j) top = std::max(top, p[j] = score(j));
  for (auto& x : p) sum += (x = std::exp(x - top));
  RowReference ref{std::vector<double>(dim), std::vector<double>(dim), std::vector<double>(dim)};
  for (int i = 0; i < dim; ++i) {
    for (int j = 0; j < keys; ++j) {
      const double x = value(j, i);
      ref.out[i] += p[j] / sum * x;
      ref.weighted[i] += p[j] / sum * std::fabs(x);
      ref.spread[i] += std::fabs(x) / sum;
    }
  }
  return ref;
}

// One head's random inputs for the encoder-attention kernel tests, each matrix inside a wider
// one (strides past the head's columns): queries [rows, head_dim], keys and values [keys,
// head_dim] interleaved in one buffer; and the float32 attention of row r in double.
struct HeadInputs {
  HeadInputs(int rows, int keys, int head_dim, unsigned seed)
      : rows(rows),
        keys(keys),
        dim(head_dim),
        q_ld(head_dim + 3),
        kv_ld(2 * head_dim + 5),
        out_ld(head_dim + 7),
        q(random_values(static_cast<std::size_t>(rows) * q_ld, 2.0F, seed)),
        kv(random_values(static_cast<std::size_t>(keys) * kv_ld, 1.0F, seed + 1)),
        k(kv.data() + 1),
        v(kv.data() + 2 + head_dim),
        scale(1.0F / std::sqrt(static_cast<float>(head_dim))) {}

  [[nodiscard]] const float* query(int r) const {
    return q.data() + static_cast<std::ptrdiff_t>(r) * q_ld;
  }
  [[nodiscard]] RowReference exact(int r) const {
    const float* qr = query(r);
    return attend_row_in_double(
        keys, dim,
        [&](int j) {
          double dot = 0;
          for (int i = 0; i < dim; ++i)
            dot += static_cast<double>(qr[i]) * scale * k[j * kv_ld + i];
          return dot;
        },
        [&](int j, int i) { return static_cast<double>(v[j * kv_ld + i]); });
  }

  int rows, keys, dim, q_ld, kv_ld, out_ld;
  std::vector<float> q, kv;
  const float* k;
  const float* v;
  float scale;
};

// flash_attention_i16 in each encoding this CPU runs (AVX2, AVX-VNNI, AVX-512 VNNI on 256 and on
// 512 bits)
// against softmax and products in double. On the packed (rounded) keys and values and the queries
// rounded as the kernel rounds them, only the probabilities' rounding to 1/8191 is left: each
// output within sum_j |v_j| / 8191 / sum_j p_j (half a step per key, both ways). Against the
// float32 inputs, the 13- and 12-bit rounding must stay within 4e-3 absolute on these outputs of
// size ~1, ten times closer than bfloat16's bound above. The encodings agree bit for bit.
TEST(FlashAttentionI16, MatchesDoubleReferenceWithinItsRounding) {
  if (!cpu_supports(CpuIsa::kAvx2)) GTEST_SKIP() << "no AVX2: the int16 kernel does not run here";
  for (const auto& [rows, keys, head_dim] : {std::tuple{1, 1, 64},
                                             {23, 33, 64},
                                             {96, 1500, 64},
                                             {50, 127, 24},
                                             {49, 1499, 64},
                                             {7, 300, 128}}) {
    SCOPED_TRACE(testing::Message()
                 << rows << " rows x " << keys << " keys, head_dim " << head_dim);
    const HeadInputs in(rows, keys, head_dim, 60);
    const int q_ld = in.q_ld, kv_ld = in.kv_ld, out_ld = in.out_ld;
    const auto& q = in.q;
    const float* k = in.k;
    const float* v = in.v;
    std::vector<std::int16_t> k16(i16_key_elements(keys, head_dim));
    std::vector<std::int16_t> v16(i16_value_elements(keys, head_dim));
    std::vector<float> k_scale(keys), v_scale(head_dim);
    pack_i16_head(k, kv_ld, v, kv_ld, keys, head_dim,
                  {k16.data(), k_scale.data(), v16.data(), v_scale.data()});
    const I16HeadView packed{k16.data(), k_scale.data(), v16.data(), v_scale.data()};
    const float scale = in.scale;
    // The reference on the kernel's own rounding of q (per row, to 4095 steps of its largest).
    std::vector<RowReference> want, exact;
    std::vector<double> qr(head_dim);
    for (int r = 0; r < rows; ++r) {
      const float* row = q.data() + static_cast<std::ptrdiff_t>(r) * q_ld;
      double q_top = 0;
      for (int i = 0; i < head_dim; ++i)
        q_top = std::max(q_top, std::fabs(static_cast<double>(row[i] * scale)));
      for (int i = 0; i < head_dim; ++i)
        qr[i] = std::nearbyint(row[i] * scale * 4095.0 / q_top) * q_top / 4095.0;
      want.push_back(attend_row_in_double(
          keys, head_dim,
          [&](int j) {
            double dot = 0;
            for (int i = 0; i < head_dim; ++i) dot += qr[i] * k16[j * head_dim + i] * k_scale[j];
            return dot;
          },
          [&](int j, int i) {
            return v16[(j / 2) * 2 * head_dim + 2 * i + j % 2] * double{v_scale[i]};
          }));
      exact.push_back(in.exact(r));
    }
    std::vector<float> first;
    for (const char* encoding : {"avx2", "avx_vnni", "avx512_vl", "avx512"}) {
      std::vector<float> out(static_cast<std::size_t>(rows) * out_ld, -7.0F);
      if (!flash_attention_i16_with(encoding, q.data(), q_ld, rows, packed, keys, head_dim, scale,
                                    out.data(), out_ld)) {
        continue;  // this CPU does not run it
      }
      SCOPED_TRACE(encoding);
      for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < head_dim; ++i) {
          ASSERT_NEAR(out[r * out_ld + i], want[r].out[i], want[r].spread[i] / 8191.0 + 1e-5)
              << r << " " << i;
          ASSERT_NEAR(out[r * out_ld + i], exact[r].out[i], 4e-3) << r << " " << i;
        }
        for (int i = head_dim; i < out_ld; ++i) ASSERT_EQ(out[r * out_ld + i], -7.0F);
      }
      if (first.empty()) first = out;
      ASSERT_EQ(out, first) << encoding;  // all encodings, ymm or zmm, give the same bits
    }
    ASSERT_FALSE(first.empty()) << "the avx2 copy did not run";
  }
}

TEST(ThreadPool, RunsEveryTaskOnce) {
  ThreadPool pool(3);
  for (const int n : {0, 1, 2, 5, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.run(n, [&](int i) { ++hits[i]; });
    for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1);
  }
  std::atomic<int> covered{0};
  pool.for_range(1001, 16, [&](int b, int e) { covered += e - b; });
  EXPECT_EQ(covered.load(), 1001);
}

TEST(Int8, QuantizeRoundTripsWithinHalfAStep) {
  const int rows = 37, cols = 70;
  const auto w = random_values(static_cast<std::size_t>(rows) * cols, 0.1F, 6);
  const auto q = quantize_int8(w.data(), rows, cols, cols);
  EXPECT_EQ(q.padded_rows, 48);
  EXPECT_EQ(q.padded_cols, 72);
  std::vector<float> row(cols);
  for (int r = 0; r < rows; ++r) {
    q.dequantize_row(r, row.data());
    for (int c = 0; c < cols; ++c) ASSERT_NEAR(row[c], w[r * cols + c], 0.5F * q.scales[r] + 1e-7F);
  }
}

// int8_gemm on every path against the scalar reference, bit for bit: the exact integer dot
// product of the quantised values, scaled with the path's rounding (int8_detail::scale_dot). Shapes
// cover one row (decoding), rows that are no multiple of any tile height, k that is no multiple of
// 4, 32 or 64, channel counts that are no multiple of 16, with and without bias, part ranges of
// rows and channels (the backend's tasks), and the extreme values where a saturating kernel would
// fail.
struct Int8Case {
  int m, n, k;
  bool bias;
  bool extreme;  // every |x| and |w| at its row's maximum: q = +-127 everywhere
};

const Int8Case kInt8Cases[] = {
    {1, 16, 4, true, false},      {1, 51, 70, false, false},    {3, 100, 512, true, false},
    {17, 33, 99, false, false},   {40, 64, 2048, true, false},  {5, 1000, 130, true, false},
    {96, 80, 64, false, false},   {200, 48, 240, true, false},  {7, 37, 515, true, true},
    {13, 160, 1031, false, true}, {3, 4200, 2048, true, false},  // over kStreamedWeightBytes: the
                                                                 // prefetching kernels
};

std::vector<float> extreme_values(std::size_t n, unsigned seed) {
  auto v = random_values(n, 1.0F, seed);
  for (auto& x : v) x = x < 0 ? -1.0F : 1.0F;
  return v;
}

float int8_reference(const QuantizedRows& a, int r, const Int8Matrix& w, int n, const float* bias) {
  std::int64_t dot = 0;
  for (int i = 0; i < w.cols; ++i) dot += static_cast<std::int64_t>(a.value(r, i)) * w.q(n, i);
  EXPECT_EQ(dot, static_cast<std::int32_t>(dot));
  return int8_detail::scale_dot(static_cast<std::int32_t>(dot), a.scales[r], w.scales[n],
                                bias != nullptr ? bias[n] : 0.0F);
}

// Runs `gemm` over all of an m x n product and then over a part (rows [r0, r1), channels [n0, n1),
// multiples of 16), checking every output against want(r, n) and that nothing outside the part
// was written.
template <typename Gemm, typename Want>
void check_whole_and_part(const QuantizedRows& a, const Int8Matrix& w, const float* bias, int m,
                          int n, const Gemm& gemm, const Want& want) {
  const int r0 = m / 3, r1 = std::max(r0 + 1, m - m / 4);
  const int n0 = (n / 3) / 16 * 16, n1 = std::min(w.padded_rows, n0 + 32);
  for (const bool part : {false, true}) {
    const int rb = part ? r0 : 0, re = part ? r1 : m, nb = part ? n0 : 0;
    const int ne = part ? n1 : w.padded_rows;
    std::vector<float> y(static_cast<std::size_t>(m) * n, -7.0F);
    gemm(a, rb, re, w, nb, ne, bias, y.data(), n);
    for (int r = 0; r < m; ++r) {
      for (int c = 0; c < n; ++c) {
        const bool inside = r >= rb && r < re && c >= nb && c < ne;
        ASSERT_EQ(y[static_cast<std::size_t>(r) * n + c], inside ? want(r, c) : -7.0F)
            << "row " << r << " channel " << c << (part ? " (part)" : "");
      }
    }
  }
}

// Runs `gemm` over case c (activations quantised for `isa`) against the scalar reference.
template <typename Gemm>
void check_int8_case(CpuIsa isa, const Int8Case& c, const Gemm& gemm) {
  SCOPED_TRACE(testing::Message() << "m=" << c.m << " n=" << c.n << " k=" << c.k
                                  << (c.bias ? " bias" : "") << (c.extreme ? " extreme" : ""));
  const auto wf = c.extreme ? extreme_values(static_cast<std::size_t>(c.n) * c.k, 7)
                            : random_values(static_cast<std::size_t>(c.n) * c.k, 0.05F, 7);
  const auto x = c.extreme ? extreme_values(static_cast<std::size_t>(c.m) * c.k, 8)
                           : random_values(static_cast<std::size_t>(c.m) * c.k, 1.0F, 8);
  const auto bias_values = random_values(c.n, 1.0F, 9);
  const float* bias = c.bias ? bias_values.data() : nullptr;
  const auto w = quantize_int8(wf.data(), c.n, c.k, c.k);
  QuantizedRows a;
  quantize_rows(isa, x.data(), c.m, c.k, c.k, w, a);
  ASSERT_EQ(a.form, activation_form(isa));
  check_whole_and_part(a, w, bias, c.m, c.n, gemm,
                       [&](int r, int n) { return int8_reference(a, r, w, n, bias); });
}

class Int8PathTest : public ::testing::TestWithParam<CpuIsa> {};

TEST(Int8, TheLargestCaseStreamsItsWeights) {
  const auto w = quantize_int8(random_values(4200 * 2048, 0.05F, 1).data(), 4200, 2048, 2048);
  EXPECT_TRUE(int8_detail::streams_weights(w));
}

TEST_P(Int8PathTest, GemmEqualsScalarReferenceBitForBit) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) {
    GTEST_SKIP() << cpu_isa_name(isa) << ": this CPU cannot run it (it runs "
                 << supported_cpu_isa_names() << ")";
  }
  for (const auto& c : kInt8Cases) {
    check_int8_case(isa, c,
                    [&](const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                        const float* bias, float* y,
                        int ldy) { int8_gemm(isa, a, r0, r1, w, n0, n1, bias, y, ldy); });
  }
}

// The avx_vnni kernel with the EVEX encoding of its one instruction (int8_gemm_internal.h): its
// tiling, prefetching and correction checked on CPUs with AVX-512 VNNI but not AVX-VNNI.
TEST(Int8, AvxVnniKernelEqualsScalarReferenceThroughItsEvexTwin) {
#if defined(__x86_64__)
  if (!cpu_supports(CpuIsa::kAvx512Vnni)) GTEST_SKIP() << "avx512: this CPU cannot run it";
  for (const auto& c : kInt8Cases)
    check_int8_case(CpuIsa::kAvxVnni, c, int8_detail::gemm_avx_vnni_evex);
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

INSTANTIATE_TEST_SUITE_P(Paths, Int8PathTest,
                         ::testing::ValuesIn(all_cpu_isas().begin(), all_cpu_isas().end()),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

// Block-mode weights (ggml's q8_0, q5_0 and q4_0 as stored, int8_gemm.h) on every path against
// the scalar reference, bit for bit: each 32-column block's exact dot product scaled on its own
// (int8_detail::add_scaled_block, in block order), then the row's scale and the bias.
struct BlockCase {
  int m, n, k;
  int top;  // levels in [-top, top]: 127 (q8_0), 16 (q5_0), 8 (q4_0)
  bool bias;
};

const BlockCase kBlockCases[] = {
    {1, 16, 32, 127, true},   {1, 51, 64, 16, false},   {3, 100, 512, 8, true},
    {17, 33, 96, 127, false}, {40, 64, 2048, 16, true}, {5, 1000, 128, 127, true},
    {96, 80, 384, 16, false}, {7, 37, 1536, 127, true}, {200, 48, 256, 8, true},
};

Int8Matrix random_block_matrix(const BlockCase& c, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> level(-c.top, c.top);
  std::uniform_real_distribution<float> scale(1e-4F, 2e-2F);
  std::vector<std::int8_t> q(static_cast<std::size_t>(c.n) * c.k);
  for (auto& v : q) v = static_cast<std::int8_t>(level(random));
  std::vector<float> scales(q.size() / kInt8BlockColumns);
  for (auto& v : scales) v = scale(random);
  return pack_int8_blocks(q.data(), scales.data(), c.n, c.k);
}

float int8_block_reference(const QuantizedRows& a, int r, const Int8Matrix& w, int n,
                           const float* bias) {
  float sum = 0.0F;
  for (int b = 0; b < w.column_blocks(); ++b) {
    std::int32_t dot = 0;
    for (int i = b * kInt8BlockColumns; i < (b + 1) * kInt8BlockColumns; ++i) {
      dot += a.value(r, i) * w.q(n, i);
    }
    sum = int8_detail::add_scaled_block(dot, w.scale(n, b * kInt8BlockColumns), sum);
  }
  return int8_detail::finish_blocks(sum, a.scales[r], bias != nullptr ? bias[n] : 0.0F);
}

template <typename Gemm>
void check_block_case(CpuIsa isa, const BlockCase& c, const Gemm& gemm) {
  SCOPED_TRACE(testing::Message() << "m=" << c.m << " n=" << c.n << " k=" << c.k << " levels +-"
                                  << c.top << (c.bias ? " bias" : ""));
  const auto w = random_block_matrix(c, 17);
  ASSERT_TRUE(w.blocked());
  const auto x = random_values(static_cast<std::size_t>(c.m) * c.k, 1.0F, 18);
  const auto bias_values = random_values(c.n, 1.0F, 19);
  const float* bias = c.bias ? bias_values.data() : nullptr;
  QuantizedRows a;
  quantize_rows(isa, x.data(), c.m, c.k, c.k, w, a);
  ASSERT_EQ(a.form, activation_form(isa));  // else int8_gemm falls back to the portable kernel
  check_whole_and_part(a, w, bias, c.m, c.n, gemm,
                       [&](int r, int n) { return int8_block_reference(a, r, w, n, bias); });
}

TEST_P(Int8PathTest, BlockScaledGemmEqualsScalarReferenceBitForBit) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << cpu_isa_name(isa) << ": this CPU cannot run it";
  for (const auto& c : kBlockCases) {
    check_block_case(isa, c,
                     [&](const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
                         int n1, const float* bias, float* y,
                         int ldy) { int8_gemm(isa, a, r0, r1, w, n0, n1, bias, y, ldy); });
  }
}

TEST(Int8, BlockScaledAvxVnniKernelEqualsScalarReferenceThroughItsEvexTwin) {
#if defined(__x86_64__)
  if (!cpu_supports(CpuIsa::kAvx512Vnni)) GTEST_SKIP() << "avx512: this CPU cannot run it";
  for (const auto& c : kBlockCases) {
    check_block_case(CpuIsa::kAvxVnni, c, int8_detail::gemm_avx_vnni_evex);
  }
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

// Block mode keeps each block's scale: the product equals the float product of the weights as
// stored far more closely than the same weights quantised again per row (what loading a q5_0
// model did before), and per_row_int8 gives that per-row form for the device backends.
TEST(Int8, BlockScalesAreKeptNotRequantised) {
  const BlockCase c{4, 64, 512, 16, false};
  const auto w = random_block_matrix(c, 21);
  const auto per_row = per_row_int8(w);
  ASSERT_FALSE(per_row.blocked());
  // Integer activations with the path's largest level in every row (127; 63 on avx2, whose
  // activations have 7 bits): their quantisation is exact, so only the weights' form makes a
  // difference.
  const float top = activation_form(cpu_isa()) == ActivationForm::kBiased7 ? 63.0F : 127.0F;
  auto x = random_values(static_cast<std::size_t>(c.m) * c.k, 1.0F, 22);
  for (auto& v : x) v = std::clamp(std::round(v * top), -top, top);
  for (int r = 0; r < c.m; ++r) x[static_cast<std::size_t>(r) * c.k] = top;
  std::vector<float> dense(static_cast<std::size_t>(c.n) * c.k);
  for (int n = 0; n < c.n; ++n)
    w.dequantize_row(n, dense.data() + static_cast<std::size_t>(n) * c.k);
  double blocked_error = 0, per_row_error = 0;
  for (const bool blocked : {true, false}) {
    const auto& m = blocked ? w : per_row;
    QuantizedRows a;
    quantize_rows(cpu_isa(), x.data(), c.m, c.k, c.k, m, a);
    std::vector<float> y(static_cast<std::size_t>(c.m) * c.n);
    int8_gemm(cpu_isa(), a, 0, c.m, m, 0, m.padded_rows, nullptr, y.data(), c.n);
    for (int r = 0; r < c.m; ++r) {
      for (int n = 0; n < c.n; ++n) {
        double exact = 0;
        for (int i = 0; i < c.k; ++i) {
          exact += static_cast<double>(x[static_cast<std::size_t>(r) * c.k + i]) *
                   dense[static_cast<std::size_t>(n) * c.k + i];
        }
        (blocked ? blocked_error : per_row_error) +=
            std::abs(exact - y[static_cast<std::size_t>(r) * c.n + n]);
      }
    }
  }
  EXPECT_LT(blocked_error * 1000, per_row_error) << blocked_error << " vs " << per_row_error;
}

// And the int8 products against the float product they stand for, within what 8-bit
// quantisation allows.
TEST(Int8, GemmIsCloseToTheFloatProduct) {
  const int m = 13, n = 100, k = 512;
  const auto w = random_values(static_cast<std::size_t>(n) * k, 0.05F, 7);
  const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 8);
  const auto wq = quantize_int8(w.data(), n, k, k);
  QuantizedRows a;
  quantize_rows(cpu_isa(), x.data(), m, k, k, wq, a);
  std::vector<float> y(static_cast<std::size_t>(m) * n);
  int8_gemm(cpu_isa(), a, 0, m, wq, 0, wq.padded_rows, nullptr, y.data(), n);
  for (int r = 0; r < m; ++r) {
    for (int c = 0; c < n; ++c) {
      double exact = 0, magnitude = 0;
      for (int i = 0; i < k; ++i) {
        exact += static_cast<double>(x[r * k + i]) * w[c * k + i];
        magnitude += std::fabs(static_cast<double>(x[r * k + i]) * w[c * k + i]);
      }
      ASSERT_NEAR(y[r * n + c], exact, 0.02 * magnitude + 1e-6);
    }
  }
}

// Backend ops (with 1 and 3 threads) against naive loops.
class BackendTest : public ::testing::TestWithParam<int> {};

void naive_linear(const std::vector<float>& x, const std::vector<float>& w,
                  const std::vector<float>& bias, int m, int n, int k, std::vector<double>& y,
                  std::vector<double>& magnitude) {
  y.assign(static_cast<std::size_t>(m) * n, 0.0);
  magnitude.assign(y.size(), 0.0);
  for (int r = 0; r < m; ++r) {
    for (int c = 0; c < n; ++c) {
      double acc = bias.empty() ? 0.0 : bias[c];
      double mag = 0;
      for (int i = 0; i < k; ++i) {
        acc += static_cast<double>(x[r * k + i]) * w[c * k + i];
        mag += std::fabs(static_cast<double>(x[r * k + i]) * w[c * k + i]);
      }
      y[r * n + c] = acc;
      magnitude[r * n + c] = mag;
    }
  }
}

TEST_P(BackendTest, LinearFloatAndInt8) {
  auto backend = make_cpu_backend(GetParam());
  for (const auto& [m, n, k] : {std::tuple{1, 300, 64}, {3, 517, 128}, {200, 96, 80}}) {
    const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 10);
    const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 11);
    const auto bias = random_values(n, 1.0F, 12);
    std::vector<double> want, magnitude;
    naive_linear(x, w, bias, m, n, k, want, magnitude);
    std::vector<float> y(want.size());
    backend->linear({x.data(), m, k, k}, {w.data(), n, k, k}, bias, {y.data(), m, n, n});
    for (std::size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], want[i], 1e-4 * (magnitude[i] + 1.0));
    const auto wq = quantize_int8(w.data(), n, k, k);
    backend->linear_int8({x.data(), m, k, k}, wq, bias, {y.data(), m, n, n});
    for (std::size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], want[i], 0.02 * magnitude[i] + 1e-5);
  }
}

TEST_P(BackendTest, AttentionMatchesNaive) {
  auto backend = make_cpu_backend(GetParam());
  const int heads = 4, head_dim = 16, d = heads * head_dim;
  for (const auto& [queries, keys, causal] : {std::tuple{130, 130, -1},
                                              {3, 1500, -1},
                                              {5, 12, 7},
                                              {70, 70, 0},
                                              {1, 40, 39},
                                              {8, 200, -1}}) {
    const auto q = random_values(static_cast<std::size_t>(queries) * d, 1.0F, 13);
    const auto kv = random_values(static_cast<std::size_t>(keys) * 2 * d, 1.0F, 14);
    std::vector<float> out(static_cast<std::size_t>(queries) * d, -1.0F);
    const float scale = 0.25F;
    backend->attention({q.data(), queries, d, d}, {kv.data(), keys, d, 2 * d},
                       {kv.data() + d, keys, d, 2 * d}, heads, scale, causal,
                       {out.data(), queries, d, d});
    for (int h = 0; h < heads; ++h) {
      for (int r = 0; r < queries; ++r) {
        const int visible = causal < 0 ? keys : std::min(keys, r + causal + 1);
        std::vector<double> p(visible);
        double max_value = -1e30, sum = 0;
        for (int j = 0; j < visible; ++j) {
          double s = 0;
          for (int i = 0; i < head_dim; ++i)
            s +=
                static_cast<double>(q[r * d + h * head_dim + i]) * kv[j * 2 * d + h * head_dim + i];
          p[j] = s * scale;
          max_value = std::max(max_value, p[j]);
        }
        for (auto& v : p) sum += (v = std::exp(v - max_value));
        for (int i = 0; i < head_dim; ++i) {
          double want = 0;
          for (int j = 0; j < visible; ++j)
            want += p[j] / sum * kv[j * 2 * d + d + h * head_dim + i];
          ASSERT_NEAR(out[r * d + h * head_dim + i], want, 1e-4) << "head " << h << " row " << r;
        }
      }
    }
  }
}

// Keys and values stored head by head give what attention() gives on the side-by-side layout, on
// the small-row path (<= 8 queries) and the blocked one, with a head width that is no multiple
// of the vector length.
TEST_P(BackendTest, HeadMajorAttentionMatchesSideBySide) {
  auto backend = make_cpu_backend(GetParam());
  const int heads = 3, head_dim = 24, d = heads * head_dim, keys = 700;
  const auto kv = random_values(static_cast<std::size_t>(keys) * 2 * d, 1.0F, 16);
  std::vector<float> k_major(static_cast<std::size_t>(keys) * d), v_major(k_major.size());
  for (int h = 0; h < heads; ++h) {
    for (int j = 0; j < keys; ++j) {
      for (int i = 0; i < head_dim; ++i) {
        k_major[(h * keys + j) * head_dim + i] = kv[j * 2 * d + h * head_dim + i];
        v_major[(h * keys + j) * head_dim + i] = kv[j * 2 * d + d + h * head_dim + i];
      }
    }
  }
  for (const int queries : {1, 5, 8, 9, 40}) {
    const auto q = random_values(static_cast<std::size_t>(queries) * d, 1.0F, 17);
    std::vector<float> want(static_cast<std::size_t>(queries) * d), got(want.size(), -1.0F);
    backend->attention({q.data(), queries, d, d}, {kv.data(), keys, d, 2 * d},
                       {kv.data() + d, keys, d, 2 * d}, heads, 0.2F, -1,
                       {want.data(), queries, d, d});
    backend->attention_head_major({q.data(), queries, d, d}, k_major.data(), v_major.data(), keys,
                                  heads, 0.2F, {got.data(), queries, d, d});
    for (std::size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5) << queries << " queries";
  }
}

// The float16 cache gives what attention_head_major gives on the same (rounded) values, with
// the CPU's kernel and with the Backend base class's converting default, scores included; and
// it stays within float16 rounding of attention on the unrounded values.
TEST_P(BackendTest, HalfCacheAttentionMatchesHeadMajor) {
  auto backend = make_cpu_backend(GetParam());
  const int heads = 6, head_dim = 64, d = heads * head_dim, keys = 1500;
  const auto kv = random_values(static_cast<std::size_t>(keys) * 2 * d, 1.0F, 40);
  const auto p = pack(kv, 2 * d, keys, heads, head_dim);
  const auto rounded_k = unpack_half(p.view, true);
  const auto rounded_v = unpack_half(p.view, false);
  std::vector<float> exact_k(rounded_k.size()), exact_v(rounded_v.size());
  for (int h = 0; h < heads; ++h) {
    for (int j = 0; j < keys; ++j) {
      for (int i = 0; i < head_dim; ++i) {
        exact_k[(h * keys + j) * head_dim + i] = kv[j * 2 * d + h * head_dim + i];
        exact_v[(h * keys + j) * head_dim + i] = kv[j * 2 * d + d + h * head_dim + i];
      }
    }
  }
  for (const int queries : {1, 5, 8, 9, 40}) {
    const auto q = random_values(static_cast<std::size_t>(queries) * d, 1.0F, 41);
    const std::size_t n = static_cast<std::size_t>(queries) * d;
    std::vector<float> want(n), exact(n), got(n, -1.0F), fallback(n, -1.0F);
    const std::size_t block = static_cast<std::size_t>(queries) * keys;
    std::vector<float> got_scores(2 * block, -1.0F), fallback_scores(2 * block, -1.0F);
    std::vector<float*> got_heads(heads, nullptr), fallback_heads(heads, nullptr);
    got_heads[1] = got_scores.data();
    got_heads[4] = got_scores.data() + block;
    fallback_heads[1] = fallback_scores.data();
    fallback_heads[4] = fallback_scores.data() + block;
    backend->attention_head_major({q.data(), queries, d, d}, rounded_k.data(), rounded_v.data(),
                                  keys, heads, 0.125F, {want.data(), queries, d, d});
    backend->attention_head_major({q.data(), queries, d, d}, exact_k.data(), exact_v.data(), keys,
                                  heads, 0.125F, {exact.data(), queries, d, d});
    backend->attention_half_cache({q.data(), queries, d, d}, p.view, 0.125F,
                                  {got.data(), queries, d, d}, got_heads);
    backend->Backend::attention_half_cache({q.data(), queries, d, d}, p.view, 0.125F,
                                           {fallback.data(), queries, d, d}, fallback_heads);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5) << queries << " queries";
      ASSERT_NEAR(fallback[i], want[i], 1e-5) << queries << " queries";
      // float16 keeps 11 significant bits: outputs (values ~1) move by a few 1e-4.
      ASSERT_NEAR(got[i], exact[i], 3e-3) << queries << " queries";
    }
    for (std::size_t i = 0; i < got_scores.size(); ++i)
      ASSERT_NEAR(got_scores[i], fallback_scores[i], 2e-5) << queries << " queries";
  }
}

// attention_reduced is attention() within int16 rounding of the weighted values on the x86
// paths (1e-2 absolute on outputs of size ~1), and exactly attention() elsewhere or for a few
// rows.
TEST_P(BackendTest, ReducedAttentionIsAttentionWithinItsRounding) {
  auto backend = make_cpu_backend(GetParam());
  const int heads = 4, head_dim = 64, d = heads * head_dim;
  for (const int queries : {5, 300}) {
    const int keys = queries;
    const auto qkv = random_values(static_cast<std::size_t>(queries) * 3 * d, 1.0F, 42);
    const MatrixView q{qkv.data(), queries, d, 3 * d};
    const MatrixView k{qkv.data() + d, keys, d, 3 * d};
    const MatrixView v{qkv.data() + 2 * d, keys, d, 3 * d};
    std::vector<float> want(static_cast<std::size_t>(queries) * d), got(want.size());
    backend->attention(q, k, v, heads, 0.125F, -1, {want.data(), queries, d, d});
    backend->attention_reduced(q, k, v, heads, 0.125F, {got.data(), queries, d, d});
    const bool exact = !i16_attention_supported() || queries <= 8;
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (exact) {
        ASSERT_EQ(got[i], want[i]) << queries << " queries";
      } else {
        ASSERT_NEAR(got[i], want[i], 1e-2) << queries << " queries";
      }
    }
  }
}

TEST(VectorOps, MaxValueAndSumExpMatchNaiveOnEveryTarget) {
  auto x = random_values(51865, 6.0F, 18);
  x[7] = -HUGE_VALF;  // forbidden tokens add nothing
  x[51000] = -HUGE_VALF;
  for_each_vector_target([&] {
    for (const std::size_t n : {std::size_t{1}, std::size_t{15}, std::size_t{300}, x.size()}) {
      const float want_max =
          *std::max_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_EQ(max_value(x.data(), n), want_max);
      double want = 0;
      for (std::size_t i = 0; i < n; ++i) want += std::exp(static_cast<double>(x[i] - want_max));
      ASSERT_NEAR(sum_exp(x.data(), n, want_max), want, 1e-6 * want);
    }
  });
}

// Beam search scans a vocabulary for logits at or above a floor: every index in order, none
// skipped, -inf never taken, from any start and near either end.
TEST(VectorOps, FindAtLeastVisitsWhatALoopWouldOnEveryTarget) {
  auto x = random_values(51865, 6.0F, 19);
  x[3] = -HUGE_VALF;
  x[51864] = 5.9F;
  for_each_vector_target([&] {
    for (const float floor : {std::numeric_limits<float>::lowest(), 0.0F, 5.0F, 5.9F, 7.0F}) {
      for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{17}, x.size()}) {
        std::vector<std::size_t> got;
        for (std::size_t t = find_at_least(x.data(), 0, n, floor); t < n;
             t = find_at_least(x.data(), t + 1, n, floor)) {
          got.push_back(t);
        }
        std::vector<std::size_t> want;
        for (std::size_t t = 0; t < n; ++t) {
          if (x[t] >= floor) want.push_back(t);
        }
        ASSERT_EQ(got, want) << "floor " << floor << ", n " << n;
      }
    }
    ASSERT_EQ(find_at_least(x.data(), x.size(), x.size(), 0.0F), x.size());
  });
}

// Beams of one window share their prompt's keys: small_attention_shared over shared + own keys
// must give each sequence the bits small_attention gives over the two copied end to end, on
// every target, for one or several rows, causal or not, and head sizes the vectors do not divide.
TEST(SmallAttention, SharedKeysGiveTheBitsOfCopiesOnEveryTarget) {
  for_each_vector_target([&] {
    for (const int head_dim : {64, 13, 40}) {
      for (const int shared_keys : {0, 1, 37, 230}) {
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + ", shared " +
                     std::to_string(shared_keys));
        const int ld = 3 * head_dim + 5;  // rows wider than a head, as in a [*, d] cache
        const auto shared = random_values(static_cast<std::size_t>(shared_keys + 1) * ld, 1.0F, 31);
        struct Case {
          int rows, keys, causal;
        };
        const std::vector<Case> cases = {{1, 9, 8}, {3, 4, 1}, {1, 1, 0}, {2, 20, -1}, {1, 0, -1}};
        std::vector<std::vector<float>> qs, own, got;
        std::vector<SmallSequence> sequences;
        std::uint32_t seed = 32;
        for (const auto& c : cases) {
          qs.push_back(random_values(static_cast<std::size_t>(c.rows) * ld, 2.0F, ++seed));
          own.push_back(random_values(static_cast<std::size_t>(c.keys + 1) * ld, 1.0F, ++seed));
          got.emplace_back(static_cast<std::size_t>(c.rows) * ld, -3.0F);
        }
        for (std::size_t i = 0; i < cases.size(); ++i) {
          sequences.push_back({qs[i].data() + 1, ld, cases[i].rows, own[i].data() + 2, ld,
                               own[i].data() + 2 + head_dim, ld, cases[i].keys, cases[i].causal,
                               got[i].data() + 1, ld});
        }
        std::vector<float> scratch(4096);
        const SharedKeys keys{shared.data() + 2, ld, shared.data() + 2 + head_dim, ld, shared_keys};
        small_attention_shared(keys, sequences, head_dim, 0.125F, scratch.data());
        for (std::size_t i = 0; i < cases.size(); ++i) {
          const auto& c = cases[i];
          // The same keys and values end to end, as a cache without sharing holds them.
          const int total = shared_keys + c.keys;
          std::vector<float> kv(static_cast<std::size_t>(total + 1) * ld);
          std::copy_n(shared.begin(), static_cast<std::size_t>(shared_keys) * ld, kv.begin());
          std::copy_n(own[i].begin(), static_cast<std::size_t>(c.keys) * ld,
                      kv.begin() + static_cast<std::ptrdiff_t>(shared_keys) * ld);
          std::vector<float> want(got[i].size(), -3.0F);
          const int causal = c.causal < 0 ? -1 : c.causal + shared_keys;
          if (total == 0) {  // nothing to attend to: zeros
            for (int r = 0; r < c.rows; ++r)
              std::fill_n(want.begin() + static_cast<std::ptrdiff_t>(r) * ld + 1, head_dim, 0.0F);
          } else {
            small_attention(qs[i].data() + 1, ld, c.rows, kv.data() + 2, ld,
                            kv.data() + 2 + head_dim, ld, total, head_dim, 0.125F, causal,
                            scratch.data(), want.data() + 1, ld);
          }
          EXPECT_EQ(got[i], want) << "sequence " << i;
        }
      }
    }
  });
}

TEST_P(BackendTest, ElementwiseOpsSplitAcrossThreads) {
  auto backend = make_cpu_backend(GetParam());
  const int rows = 300, cols = 257;
  const auto x = random_values(static_cast<std::size_t>(rows) * cols, 2.0F, 15);
  auto y = x;
  backend->gelu(y);
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(y[i], 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0))), 1e-5);
  }
  y = x;
  backend->softmax_rows({y.data(), rows, cols, cols}, 3);
  for (int r = 0; r < rows; ++r) {
    double sum = 0;
    for (int c = 0; c < cols; ++c) sum += y[r * cols + c];
    ASSERT_NEAR(sum, 1.0, 1e-5);
    if (r + 4 < cols) {
      ASSERT_EQ(y[r * cols + r + 4], 0.0F);
    }
  }
}

// A transcript must not depend on --threads: every product gives the same bits on 1, 2 and 3
// threads, at encoder sizes (row blocks) and decoder sizes (column splits).
TEST(Backend, ProductsAreTheSameWhateverTheThreadCount) {
  std::vector<std::unique_ptr<Backend>> backends;
  for (const int threads : {1, 2, 3}) backends.push_back(make_cpu_backend(threads));
  for (const auto& [m, n, k] :
       {std::tuple{1500, 512, 240}, {700, 384, 96}, {5, 2000, 64}, {100, 1300, 200}}) {
    const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 20);
    const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 21);
    const auto bias = random_values(n, 1.0F, 22);
    const auto wq = quantize_int8(w.data(), n, k, k);
    std::vector<std::vector<float>> float_out, int8_out;
    for (const auto& backend : backends) {
      std::vector<float> y(static_cast<std::size_t>(m) * n);
      backend->linear({x.data(), m, k, k}, {w.data(), n, k, k}, bias, {y.data(), m, n, n});
      float_out.push_back(y);
      backend->linear_int8({x.data(), m, k, k}, wq, bias, {y.data(), m, n, n});
      int8_out.push_back(y);
    }
    for (std::size_t i = 1; i < backends.size(); ++i) {
      EXPECT_EQ(float_out[i], float_out[0]) << m << "x" << n << "x" << k;
      EXPECT_EQ(int8_out[i], int8_out[0]) << m << "x" << n << "x" << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, BackendTest, ::testing::Values(1, 3));

}  // namespace
}  // namespace amanuensis::kernels
