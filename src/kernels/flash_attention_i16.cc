#include "kernels/flash_attention_i16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernels/cpu_isa.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AMAN_I16_BUILT 1
#else
#define AMAN_I16_BUILT 0
#endif

namespace amanuensis::kernels {

namespace i16_detail {

// The largest magnitudes of the rounded queries and keys, values, and probabilities (1.0 is
// kProbabilityOne). With head_dim <= kMaxDim no int32 sum overflows: 64 products of at most
// 4095^2 (1.07e9) for a score, 128 of at most 8191 * 2047 (2.15e9 < 2^31) for a key tile of
// values.
constexpr float kQueryKeyMax = 4095.0F;
constexpr float kValueMax = 2047.0F;
constexpr int kProbabilityOne = 8191;
constexpr int kMaxDim = 128;

struct Problem {
  const float* q;
  int q_ld;
  I16HeadView kv;
  int keys;
  int dim;
  float scale;
  float* out;
  int out_ld;
};

// x rounded to a multiple of `unit` (inverse 1 / unit), as an int16.
std::int16_t round_to(float x, float inverse) {
  return static_cast<std::int16_t>(std::lrint(x * inverse));
}

float largest_magnitude(const float* x, int n, int stride) {
  float top = 0.0F;
  for (int i = 0; i < n; ++i)
    top = std::max(top, std::fabs(x[static_cast<std::ptrdiff_t>(i) * stride]));
  return top;
}

}  // namespace i16_detail

using i16_detail::kMaxDim;

bool i16_attention_supported() {
#if AMAN_I16_BUILT
  static const bool supported = cpu_isa() == CpuIsa::kAvx2 || cpu_isa() == CpuIsa::kAvxVnni ||
                                cpu_isa() == CpuIsa::kAvx512Vnni;
  return supported;
#else
  return false;
#endif
}

std::size_t i16_key_elements(int keys, int head_dim) {
  return static_cast<std::size_t>(keys) * head_dim;
}

std::size_t i16_value_elements(int keys, int head_dim) {
  return static_cast<std::size_t>((keys + 1) / 2) * 2 * head_dim;
}

namespace i16_detail {

// pack_i16_head one element at a time, where the CPU has no AVX2 (the kernel does not run there,
// but packing still gives the same numbers).
void pack_scalar(const float* k, int k_ld, const float* v, int v_ld, int keys, int head_dim,
                 const I16Head& out) {
  for (int j = 0; j < keys; ++j) {
    const float* row = k + static_cast<std::ptrdiff_t>(j) * k_ld;
    const float top = largest_magnitude(row, head_dim, 1);
    const float inverse = top > 0.0F ? kQueryKeyMax / top : 0.0F;
    out.k_scale[j] = top / kQueryKeyMax;
    std::int16_t* to = out.k + static_cast<std::size_t>(j) * head_dim;
    for (int i = 0; i < head_dim; ++i) to[i] = round_to(row[i], inverse);
  }
  for (int i = 0; i < head_dim; ++i) {
    const float top = largest_magnitude(v + i, keys, v_ld);
    const float inverse = top > 0.0F ? kValueMax / top : 0.0F;
    out.v_scale[i] = top / kValueMax;
    for (int j = 0; j < keys + (keys % 2); ++j) {
      const float x = j < keys ? v[static_cast<std::ptrdiff_t>(j) * v_ld + i] : 0.0F;
      out.v[static_cast<std::size_t>(j / 2) * head_dim * 2 + 2 * i + j % 2] = round_to(x, inverse);
    }
  }
}

}  // namespace i16_detail

}  // namespace amanuensis::kernels

#if AMAN_I16_BUILT
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized and -Wuninitialized on their own
// _mm512_undefined_* helpers (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// Only the functions of these copies use the instructions of their target, and they call no
// library templates: an inline function instantiated with these options could be the copy the
// linker keeps for callers on other CPUs.
#define AMAN_I16_NAMESPACE avx2
#define AMAN_I16_WIDTH 256
#define AMAN_I16_TARGET __attribute__((target("avx2,fma")))
#define AMAN_I16_DOT(c, a, b) _mm256_add_epi32(_mm256_madd_epi16((a), (b)), (c))
#define AMAN_I16_TILE 3
#include "kernels/flash_attention_i16-inl.h"

#define AMAN_I16_NAMESPACE vex
#define AMAN_I16_WIDTH 256
#define AMAN_I16_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define AMAN_I16_DOT(c, a, b) _mm256_dpwssd_avx_epi32((c), (a), (b))
#define AMAN_I16_TILE 4
#include "kernels/flash_attention_i16-inl.h"

#define AMAN_I16_NAMESPACE evex
#define AMAN_I16_WIDTH 256
#define AMAN_I16_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni")))
#define AMAN_I16_DOT(c, a, b) _mm256_dpwssd_epi32((c), (a), (b))
#define AMAN_I16_TILE 4
#include "kernels/flash_attention_i16-inl.h"

#define AMAN_I16_NAMESPACE zmm
#define AMAN_I16_WIDTH 512
#define AMAN_I16_TARGET \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define AMAN_I16_DOT(c, a, b) _mm512_dpwssd_epi32((c), (a), (b))
#define AMAN_I16_TILE 8
#include "kernels/flash_attention_i16-inl.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // AMAN_I16_BUILT

namespace amanuensis::kernels {
namespace {

enum class Encoding { kAvx2, kVex, kEvex, kZmm };

bool runs(Encoding e) {
#if AMAN_I16_BUILT
  switch (e) {
    case Encoding::kAvx2:
      return cpu_supports(CpuIsa::kAvx2);
    case Encoding::kVex:
      return cpu_supports(CpuIsa::kAvxVnni);
    case Encoding::kEvex:
    case Encoding::kZmm:
      return cpu_supports(CpuIsa::kAvx512Vnni);
  }
#endif
  static_cast<void>(e);
  return false;
}

void attend(Encoding e, const i16_detail::Problem& pb, int rows) {
  if (pb.keys <= 0 || pb.dim > kMaxDim || pb.dim % 2 != 0) {  // callers never pass these
    for (int r = 0; r < rows; ++r)
      std::fill_n(pb.out + static_cast<std::ptrdiff_t>(r) * pb.out_ld, pb.dim, 0.0F);
    return;
  }
#if AMAN_I16_BUILT
  switch (e) {
    case Encoding::kAvx2:
      i16_detail::avx2::attend(pb, rows);
      return;
    case Encoding::kVex:
      i16_detail::vex::attend(pb, rows);
      return;
    case Encoding::kEvex:
      i16_detail::evex::attend(pb, rows);
      return;
    case Encoding::kZmm:
      i16_detail::zmm::attend(pb, rows);
      return;
  }
#endif
  static_cast<void>(e);
}

}  // namespace

void pack_i16_head(const float* k, int k_ld, const float* v, int v_ld, int keys, int head_dim,
                   const I16Head& out) {
#if AMAN_I16_BUILT
  if (head_dim <= kMaxDim && cpu_supports(CpuIsa::kAvx2)) {
    i16_detail::avx2::pack_head(k, k_ld, v, v_ld, keys, head_dim, out);
    return;
  }
#endif
  i16_detail::pack_scalar(k, k_ld, v, v_ld, keys, head_dim, out);
}

void flash_attention_i16(const float* q, int q_ld, int rows, const I16HeadView& kv, int keys,
                         int head_dim, float scale, float* out, int out_ld) {
  static const Encoding encoding = cpu_isa() == CpuIsa::kAvx512Vnni ? Encoding::kZmm
                                   : cpu_isa() == CpuIsa::kAvxVnni  ? Encoding::kVex
                                                                    : Encoding::kAvx2;
  attend(encoding, {q, q_ld, kv, keys, head_dim, scale, out, out_ld}, rows);
}

bool flash_attention_i16_with(const char* encoding, const float* q, int q_ld, int rows,
                              const I16HeadView& kv, int keys, int head_dim, float scale,
                              float* out, int out_ld) {
  const std::string_view name = encoding;
  const Encoding e = name == "avx_vnni"    ? Encoding::kVex
                     : name == "avx512_vl" ? Encoding::kEvex
                     : name == "avx512"    ? Encoding::kZmm
                                           : Encoding::kAvx2;
  if ((name != "avx2" && e == Encoding::kAvx2) || !runs(e)) return false;
  attend(e, {q, q_ld, kv, keys, head_dim, scale, out, out_ld}, rows);
  return true;
}

}  // namespace amanuensis::kernels
