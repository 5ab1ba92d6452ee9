// Highway compiles this file once per instruction set (foreach_target.h re-includes it), so the
// include order below matters: keep clang-format from sorting it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/vector_ops.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "kernels/vector_ops.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
// Highway's own naming inside its per-target namespace (CamelCase functions, tag `d`/`L`).
// NOLINTBEGIN(readability-identifier-naming)
namespace amanuensis::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// erf(x) as an odd degree-13 over even degree-8 rational function on [-4, 4] (beyond, erf is
// +-1 in float): the approximation Eigen and XLA use for float32.
template <class D, class V>
HWY_INLINE V Erf(D d, V x) {
  x = hn::Min(hn::Max(x, hn::Set(d, -4.0F)), hn::Set(d, 4.0F));
  const V x2 = hn::Mul(x, x);
  V p = hn::Set(d, -2.72614225801306e-10F);
  p = hn::MulAdd(x2, p, hn::Set(d, 2.77068142495902e-08F));
  p = hn::MulAdd(x2, p, hn::Set(d, -2.10102402082508e-06F));
  p = hn::MulAdd(x2, p, hn::Set(d, -5.69250639462346e-05F));
  p = hn::MulAdd(x2, p, hn::Set(d, -7.34990630326855e-04F));
  p = hn::MulAdd(x2, p, hn::Set(d, -2.95459980854025e-03F));
  p = hn::MulAdd(x2, p, hn::Set(d, -1.60960333262415e-02F));
  p = hn::Mul(x, p);
  V q = hn::Set(d, -1.45660718464996e-05F);
  q = hn::MulAdd(x2, q, hn::Set(d, -2.13374055278905e-04F));
  q = hn::MulAdd(x2, q, hn::Set(d, -1.68282697438203e-03F));
  q = hn::MulAdd(x2, q, hn::Set(d, -7.37332916720468e-03F));
  q = hn::MulAdd(x2, q, hn::Set(d, -1.42647390514189e-02F));
  return hn::Div(p, q);
}

template <class D, class V>
HWY_INLINE V Gelu1(D d, V x) {
  const V half_x = hn::Mul(x, hn::Set(d, 0.5F));
  const V e = Erf(d, hn::Mul(x, hn::Set(d, 0.70710678118654752F)));
  return hn::MulAdd(half_x, e, half_x);
}

void Gelu(float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(Gelu1(d, hn::LoadU(d, x + i)), d, x + i);
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) hn::StoreU(Gelu1(d1, hn::LoadU(d1, x + i)), d1, x + i);
}

void Add(const float* HWY_RESTRICT x, float* HWY_RESTRICT y, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] += x[i];
}

float MaxAbs(const float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  auto m = hn::Zero(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) m = hn::Max(m, hn::Abs(hn::LoadU(d, x + i)));
  float result = hn::GetLane(hn::MaxOfLanes(d, m));
  for (; i < n; ++i) result = std::max(result, std::fabs(x[i]));
  return result;
}

void QuantizeRow(const float* HWY_RESTRICT x, std::size_t n, float inverse, std::uint8_t zero,
                 std::int8_t* HWY_RESTRICT q) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<std::int8_t, decltype(d)> d8;
  const std::size_t lanes = hn::Lanes(d);
  const auto scale = hn::Set(d, inverse);
  const auto zero_point = hn::Set(d8, static_cast<std::int8_t>(zero));
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto rounded = hn::NearestInt(hn::Mul(hn::LoadU(d, x + i), scale));
    // Wraps modulo 256: q + 128 lands in [1, 255], q + 64 in [1, 127].
    hn::StoreU(hn::Add(hn::DemoteTo(d8, rounded), zero_point), d8, q + i);
  }
  for (; i < n; ++i) {
    const auto rounded = static_cast<std::int32_t>(std::nearbyint(x[i] * inverse));
    q[i] = static_cast<std::int8_t>(static_cast<std::uint8_t>(rounded + zero));
  }
}

void SoftmaxRow(float* HWY_RESTRICT row, int visible, int cols) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int>(hn::Lanes(d));
  const auto n = static_cast<std::size_t>(std::max(visible, 0));
  if (n > 0) {
    // max
    auto vmax = hn::Set(d, -HUGE_VALF);
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes) vmax = hn::Max(vmax, hn::LoadU(d, row + i));
    float max_value = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (; i < n; ++i) max_value = std::max(max_value, row[i]);
    // exp and sum
    const auto vshift = hn::Set(d, max_value);
    auto vsum = hn::Zero(d);
    i = 0;
    for (; i + lanes <= n; i += lanes) {
      const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, row + i), vshift));
      hn::StoreU(e, d, row + i);
      vsum = hn::Add(vsum, e);
    }
    float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
    const hn::CappedTag<float, 1> d1;
    for (; i < n; ++i) {
      row[i] = hn::GetLane(hn::Exp(d1, hn::Set(d1, row[i] - max_value)));
      sum += row[i];
    }
    // normalise
    const auto vinv = hn::Set(d, 1.0F / sum);
    i = 0;
    for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(d, row + i), vinv), d, row + i);
    for (; i < n; ++i) row[i] *= 1.0F / sum;
  }
  std::fill(row + n, row + std::max(cols, visible), 0.0F);
}

void LayerNormRow(float* HWY_RESTRICT row, const float* HWY_RESTRICT gamma,
                  const float* HWY_RESTRICT beta, int n_int, float epsilon) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto n = static_cast<std::size_t>(n_int);
  auto vsum = hn::Zero(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) vsum = hn::Add(vsum, hn::LoadU(d, row + i));
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) sum += row[i];
  const float mean = sum / static_cast<float>(n);
  const auto vmean = hn::Set(d, mean);
  auto vsq = hn::Zero(d);
  i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto c = hn::Sub(hn::LoadU(d, row + i), vmean);
    vsq = hn::MulAdd(c, c, vsq);
  }
  float squares = hn::GetLane(hn::SumOfLanes(d, vsq));
  for (; i < n; ++i) squares += (row[i] - mean) * (row[i] - mean);
  const float inv_std = 1.0F / std::sqrt(squares / static_cast<float>(n) + epsilon);
  const auto vinv = hn::Set(d, inv_std);
  i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto c = hn::Mul(hn::Sub(hn::LoadU(d, row + i), vmean), vinv);
    hn::StoreU(hn::MulAdd(c, hn::LoadU(d, gamma + i), hn::LoadU(d, beta + i)), d, row + i);
  }
  for (; i < n; ++i) row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
}

float MaxValue(const float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  auto m = hn::Set(d, -HUGE_VALF);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) m = hn::Max(m, hn::LoadU(d, x + i));
  float result = hn::GetLane(hn::MaxOfLanes(d, m));
  for (; i < n; ++i) result = std::max(result, x[i]);
  return result;
}

std::size_t FindAtLeast(const float* HWY_RESTRICT x, std::size_t from, std::size_t n,
                        float threshold) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto vthreshold = hn::Set(d, threshold);
  std::size_t i = from;
  for (; i + lanes <= n; i += lanes) {
    const intptr_t lane = hn::FindFirstTrue(d, hn::Ge(hn::LoadU(d, x + i), vthreshold));
    if (lane >= 0) return i + static_cast<std::size_t>(lane);
  }
  for (; i < n; ++i) {
    if (x[i] >= threshold) return i;
  }
  return n;
}

// sum exp(x[i] - shift), exp in float (1 ulp), summed in float over short blocks and the block
// sums in double, so that long rows (a vocabulary) lose no precision to the running sum.
double SumExp(const float* HWY_RESTRICT x, std::size_t n, float shift) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto vshift = hn::Set(d, shift);
  constexpr std::size_t kBlock = 256;
  double total = 0.0;
  std::size_t i = 0;
  while (i + lanes <= n) {
    const std::size_t block_end = std::min(n - n % lanes, i + kBlock);
    auto vsum = hn::Zero(d);
    for (; i < block_end; i += lanes)
      vsum = hn::Add(vsum, hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vshift)));
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, vsum)));
  }
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) {
    total += static_cast<double>(hn::GetLane(hn::Exp(d1, hn::Set(d1, x[i] - shift))));
  }
  return total;
}

const char* Target() { return hwy::TargetName(HWY_TARGET); }

}  // namespace amanuensis::kernels::HWY_NAMESPACE
// NOLINTEND(readability-identifier-naming)
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace amanuensis::kernels {

HWY_EXPORT(SoftmaxRow);
HWY_EXPORT(Gelu);
HWY_EXPORT(LayerNormRow);
HWY_EXPORT(Add);
HWY_EXPORT(MaxAbs);
HWY_EXPORT(QuantizeRow);
HWY_EXPORT(Target);
HWY_EXPORT(MaxValue);
HWY_EXPORT(SumExp);
HWY_EXPORT(FindAtLeast);

void softmax_row(float* row, int visible, int cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxRow)(row, visible, cols);
}
void gelu(float* x, std::size_t n) { HWY_DYNAMIC_DISPATCH(Gelu)(x, n); }
void layer_norm_row(float* row, const float* gamma, const float* beta, int n, float epsilon) {
  HWY_DYNAMIC_DISPATCH(LayerNormRow)(row, gamma, beta, n, epsilon);
}
void add(const float* x, float* y, std::size_t n) { HWY_DYNAMIC_DISPATCH(Add)(x, y, n); }
float max_abs(const float* x, std::size_t n) { return HWY_DYNAMIC_DISPATCH(MaxAbs)(x, n); }
void quantize_row(const float* x, std::size_t n, float inverse, std::uint8_t zero, std::int8_t* q) {
  HWY_DYNAMIC_DISPATCH(QuantizeRow)(x, n, inverse, zero, q);
}
float max_value(const float* x, std::size_t n) { return HWY_DYNAMIC_DISPATCH(MaxValue)(x, n); }
double sum_exp(const float* x, std::size_t n, float shift) {
  return HWY_DYNAMIC_DISPATCH(SumExp)(x, n, shift);
}
std::size_t find_at_least(const float* x, std::size_t from, std::size_t n, float threshold) {
  return HWY_DYNAMIC_DISPATCH(FindAtLeast)(x, from, n, threshold);
}
const char* vector_ops_target() { return HWY_DYNAMIC_DISPATCH(Target)(); }

std::vector<std::int64_t> vector_ops_available_targets() {
  return hwy::SupportedAndGeneratedTargets();
}
void vector_ops_force_target(std::int64_t target) { hwy::SetSupportedTargetsForTest(target); }

void vector_ops_limit_to(CpuIsa isa) {
  // Highway's target bits: the lower the bit, the better the target; DisableTargets(mask) removes
  // those in mask, so "every bit below T" is every target better than T.
  std::int64_t better_than_allowed = HWY_STATIC_TARGET - 1;
  switch (isa) {
    case CpuIsa::kAvx512Vnni:
    // The ARM int8 paths say nothing about SVE: Highway picks its best ARM target (NEON, SVE or
    // SVE2); generic keeps the baseline (NEON), as below.
    case CpuIsa::kNeonI8mm:
    case CpuIsa::kNeonDotprod:
    case CpuIsa::kNeon:
      better_than_allowed = 0;
      break;
#if HWY_ARCH_X86
    case CpuIsa::kAvx2:
    case CpuIsa::kAvxVnni:
      better_than_allowed = HWY_AVX2 - 1;
      break;
    case CpuIsa::kGeneric:  // an x86-64 CPU without AVX2 still has SSE4
      better_than_allowed = HWY_SSE4 - 1;
      break;
#endif
    default:
      break;
  }
  hwy::DisableTargets(better_than_allowed);
}

std::vector<std::string> vector_ops_unsupported_targets() {
  std::vector<std::string> names;
  const std::int64_t missing = HWY_TARGETS & ~hwy::SupportedTargets();
  for (std::int64_t rest = missing; rest != 0; rest &= rest - 1)
    names.emplace_back(hwy::TargetName(rest & -rest));
  return names;
}

}  // namespace amanuensis::kernels
#endif
