#include "kernels/flash_attention_i16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
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

// The copies of the kernel: the name tests ask for, the path the CPU needs for it, and its entry.
struct Copy {
  std::string_view name;
  CpuIsa needs;
  void (*attend)(const i16_detail::Problem&, int rows);
};
#if AMAN_I16_BUILT
constexpr Copy kCopies[] = {{"avx2", CpuIsa::kAvx2, i16_detail::avx2::attend},
                            {"avx_vnni", CpuIsa::kAvxVnni, i16_detail::vex::attend},
                            {"avx512_vl", CpuIsa::kAvx512Vnni, i16_detail::evex::attend},
                            {"avx512", CpuIsa::kAvx512Vnni, i16_detail::zmm::attend}};
#else
constexpr std::span<const Copy> kCopies;
#endif

const Copy* copy_named(std::string_view name) {
  for (const Copy& c : kCopies) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

void attend(const Copy& copy, const i16_detail::Problem& pb, int rows) {
  if (pb.keys <= 0 || pb.dim > kMaxDim || pb.dim % 2 != 0) {  // callers never pass these
    for (int r = 0; r < rows; ++r)
      std::fill_n(pb.out + static_cast<std::ptrdiff_t>(r) * pb.out_ld, pb.dim, 0.0F);
    return;
  }
  copy.attend(pb, rows);
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
  static_cast<void>(k), static_cast<void>(k_ld), static_cast<void>(v), static_cast<void>(v_ld);
  static_cast<void>(keys), static_cast<void>(out);
  throw std::invalid_argument("pack_i16_head: needs AVX2 and a head_dim of at most " +
                              std::to_string(kMaxDim) + ", not " + std::to_string(head_dim));
}

void flash_attention_i16(const float* q, int q_ld, int rows, const I16HeadView& kv, int keys,
                         int head_dim, float scale, float* out, int out_ld) {
  // The copy of the path in use: zmm on avx512, VEX vpdpwssd on avx_vnni, else avx2.
  static const Copy* const copy = copy_named(cpu_isa() == CpuIsa::kAvx512Vnni ? "avx512"
                                             : cpu_isa() == CpuIsa::kAvxVnni  ? "avx_vnni"
                                                                              : "avx2");
  if (copy == nullptr) throw std::logic_error("flash_attention_i16: not built for this CPU");
  attend(*copy, {q, q_ld, kv, keys, head_dim, scale, out, out_ld}, rows);
}

bool flash_attention_i16_with(const char* encoding, const float* q, int q_ld, int rows,
                              const I16HeadView& kv, int keys, int head_dim, float scale,
                              float* out, int out_ld) {
  const Copy* copy = copy_named(encoding);
  if (copy == nullptr || !cpu_supports(copy->needs)) return false;
  attend(*copy, {q, q_ld, kv, keys, head_dim, scale, out, out_ld}, rows);
  return true;
}

}  // namespace amanuensis::kernels
