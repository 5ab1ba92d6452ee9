#include "int8_port_probe.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace amanuensis::perf {

namespace {

// Time this thread ran: on a machine shared with other jobs, wall time counts their turns too.
double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Best of five runs of f(iterations), in seconds.
template <typename F>
double best_seconds(F f, std::uint64_t iterations) {
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    const double start = thread_seconds();
    f(iterations);
    best = std::min(best, thread_seconds() - start);
  }
  return best;
}

constexpr std::uint64_t kIterations = 1'000'000;

#if defined(__x86_64__)

// 32 dependent adds per iteration: 32 cycles (the loop's own dec/jnz run alongside).
void add_chain(std::uint64_t n) {
  std::uint64_t x = 0;
  asm volatile(
      "1:\n\t"
      ".rept 32\n\t"
      "add $1, %[x]\n\t"
      ".endr\n\t"
      "dec %[n]\n\t"
      "jnz 1b"
      : [x] "+r"(x), [n] "+r"(n)
      :
      : "cc");
}

#define AMANUENSIS_YMM_CLOBBERS                                                            \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
      "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc"

// One exact sign-trick step into accumulator ymm<acc> through temporary ymm<t>: w (ymm8) takes
// the sign of a (ymm9), |a| (ymm10) times that in pairs, pairs summed to int32 (ones: ymm11).
#define SIGN_STEP(acc, t)                     \
  "vpsignb %%ymm9, %%ymm8, %%ymm" #t          \
  "\n\t"                                      \
  "vpmaddubsw %%ymm" #t ", %%ymm10, %%ymm" #t \
  "\n\t"                                      \
  "vpmaddwd %%ymm11, %%ymm" #t ", %%ymm" #t   \
  "\n\t"                                      \
  "vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
// The xor-sign form (the avx2 kernel before its 7-bit activations, int8_gemm.h): |a| (ymm10)
// times w (ymm8) xor the sign mask of a (ymm9).
#define XOR_STEP(acc, t)                      \
  "vpxor %%ymm9, %%ymm8, %%ymm" #t            \
  "\n\t"                                      \
  "vpmaddubsw %%ymm" #t ", %%ymm10, %%ymm" #t \
  "\n\t"                                      \
  "vpmaddwd %%ymm11, %%ymm" #t ", %%ymm" #t   \
  "\n\t"                                      \
  "vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
// The unsigned form (the avx2 kernel: a + 64, int8_gemm.h): a (ymm10) times w (ymm8), no sign
// step.
#define UNSIGNED_STEP(acc, t)               \
  "vpmaddubsw %%ymm8, %%ymm10, %%ymm" #t    \
  "\n\t"                                    \
  "vpmaddwd %%ymm11, %%ymm" #t ", %%ymm" #t \
  "\n\t"                                    \
  "vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
#define EIGHT(STEP) \
  STEP(0, 12) STEP(1, 13) STEP(2, 14) STEP(3, 15) STEP(4, 12) STEP(5, 13) STEP(6, 14) STEP(7, 15)

// 8 steps of 32 multiply-adds per iteration.
void sign_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" EIGHT(SIGN_STEP) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_YMM_CLOBBERS);
}
void xor_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" EIGHT(XOR_STEP) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_YMM_CLOBBERS);
}
void unsigned_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" EIGHT(UNSIGNED_STEP) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_YMM_CLOBBERS);
}

#define MUL_ONLY(r) "vpmaddubsw %%ymm8, %%ymm10, %%ymm" #r "\n\t"
// 12 independent vpmaddubsw per iteration.
void maddubsw_only(std::uint64_t n) {
  asm volatile("1:\n\t" MUL_ONLY(0) MUL_ONLY(1) MUL_ONLY(2) MUL_ONLY(3) MUL_ONLY(4) MUL_ONLY(5)
                   MUL_ONLY(6) MUL_ONLY(7) MUL_ONLY(12) MUL_ONLY(13) MUL_ONLY(14)
                       MUL_ONLY(15) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_YMM_CLOBBERS);
}

#define VEX_DP(r) "%{vex%} vpdpbusd %%ymm8, %%ymm10, %%ymm" #r "\n\t"
// 12 accumulators, enough to hide vpdpbusd's latency at two per cycle.
void vnni_vex_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" VEX_DP(0) VEX_DP(1) VEX_DP(2) VEX_DP(3) VEX_DP(4) VEX_DP(5) VEX_DP(6)
                   VEX_DP(7) VEX_DP(12) VEX_DP(13) VEX_DP(14) VEX_DP(15) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_YMM_CLOBBERS);
}

#define AMANUENSIS_HIGH_CLOBBERS                                                            \
  "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", \
      "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc"
#define SIXTEEN(OP) \
  OP(16)            \
  OP(17)            \
  OP(18) OP(19) OP(20) OP(21) OP(22) OP(23) OP(24) OP(25) OP(26) OP(27) OP(28) OP(29) OP(30) OP(31)
#define EVEX_YMM(r) "vpdpbusd %%ymm8, %%ymm10, %%ymm" #r "\n\t"
#define EVEX_ZMM(r) "vpdpbusd %%zmm8, %%zmm10, %%zmm" #r "\n\t"

__attribute__((target("avx512f"))) void vnni_evex_ymm_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" SIXTEEN(EVEX_YMM) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_HIGH_CLOBBERS);
}
__attribute__((target("avx512f"))) void vnni_zmm_sequence(std::uint64_t n) {
  asm volatile("1:\n\t" SIXTEEN(EVEX_ZMM) "dec %[n]\n\tjnz 1b"
               : [n] "+r"(n)
               :
               : AMANUENSIS_HIGH_CLOBBERS);
}

#endif  // __x86_64__

}  // namespace

PortProbe probe_ports() {
  PortProbe p;
#if defined(__x86_64__)
  using kernels::CpuIsa;
  p.ghz = 32.0 * kIterations / best_seconds(add_chain, kIterations) * 1e-9;
  const double cycles_per_second = p.ghz * 1e9;
  // Multiply-adds per cycle of a loop doing `macs` per iteration.
  const auto rate = [&](void (*loop)(std::uint64_t), double macs) {
    return macs * kIterations / best_seconds(loop, kIterations) / cycles_per_second;
  };
  if (kernels::cpu_supports(CpuIsa::kAvx2)) {
    p.avx2_mul_only = rate(maddubsw_only, 12.0);
    p.avx2_sign = rate(sign_sequence, 8 * 32.0);
    p.avx2_xor = rate(xor_sequence, 8 * 32.0);
    p.avx2_unsigned = rate(unsigned_sequence, 8 * 32.0);
  }
  if (kernels::cpu_supports(CpuIsa::kAvxVnni)) p.vnni_ymm_vex = rate(vnni_vex_sequence, 12 * 32.0);
  if (kernels::cpu_supports(CpuIsa::kAvx512Vnni)) {
    p.vnni_ymm_evex = rate(vnni_evex_ymm_sequence, 16 * 32.0);
    p.vnni_zmm = rate(vnni_zmm_sequence, 16 * 64.0);
  }
#endif
  return p;
}

void print_probe(const PortProbe& p) {
  std::printf("core clock %.2f GHz (dependent adds)\n", p.ghz);
  const auto line = [&](const char* what, double per_cycle, bool macs) {
    if (per_cycle <= 0) {
      std::printf("  %-48s not run (this CPU lacks it)\n", what);
    } else if (macs) {
      std::printf("  %-48s %6.2f MAC/cycle = %6.1f GOP/s\n", what, per_cycle,
                  2.0 * per_cycle * p.ghz);
    } else {
      std::printf("  %-48s %6.2f per cycle\n", what, per_cycle);
    }
  };
  line("vpmaddubsw ymm alone", p.avx2_mul_only, false);
  line("avx2 sign trick (psignb+maddubsw+maddwd+paddd)", p.avx2_sign, true);
  line("avx2 xor-sign (pxor+maddubsw+maddwd+paddd)", p.avx2_xor, true);
  line("avx2 unsigned (maddubsw+maddwd+paddd)", p.avx2_unsigned, true);
  line("avx_vnni ({vex} vpdpbusd ymm)", p.vnni_ymm_vex, true);
  line("vpdpbusd ymm, EVEX (AVX-512 VL)", p.vnni_ymm_evex, true);
  line("avx512 (vpdpbusd zmm)", p.vnni_zmm, true);
}

double peak_gops(const PortProbe& p, kernels::CpuIsa isa) {
  double macs = 0;
  switch (isa) {
    case kernels::CpuIsa::kAvx2:
      macs = p.avx2_unsigned;
      break;
    case kernels::CpuIsa::kAvxVnni:
      macs = p.vnni_ymm_vex;
      break;
    case kernels::CpuIsa::kAvx512Vnni:
      macs = p.vnni_zmm;
      break;
    default:
      break;
  }
  return 2.0 * macs * p.ghz;
}

}  // namespace amanuensis::perf
