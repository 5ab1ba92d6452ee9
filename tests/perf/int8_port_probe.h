// The peak rate of each int8 path's inner instruction sequence on this core, measured with
// register-only loops (no loads, no loop-carried latency in the way), and the core clock. This is
// the "port limit" the GEMM kernels are compared against (bench/README.md).
#pragma once

#include "kernels/cpu_isa.h"

namespace amanuensis::perf {

struct PortProbe {
  double ghz = 0;  // core clock, from a chain of dependent adds (1 cycle each)
  // Multiply-adds per cycle of each sequence (0: not run, the CPU lacks it):
  double avx2_mul_only = 0;  // vpmaddubsw alone: the vector-multiply ports' capacity
  double avx2_sign = 0;      // vpsignb + vpmaddubsw + vpmaddwd + vpaddd (the exact sign trick)
  double avx2_xor = 0;       // vpxor + vpmaddubsw + vpmaddwd + vpaddd (the avx2 kernel's form)
  double avx2_unsigned = 0;  // vpmaddubsw + vpmaddwd + vpaddd (unsigned a, zero point)
  double vnni_ymm_vex = 0;   // {vex} vpdpbusd ymm (AVX-VNNI)
  double vnni_ymm_evex = 0;  // vpdpbusd ymm (AVX-512 VNNI + VL): same operation, EVEX encoding
  double vnni_zmm = 0;       // vpdpbusd zmm (AVX-512 VNNI)
};

PortProbe probe_ports();
void print_probe(const PortProbe& probe);
// GOP/s (2 per multiply-add) of one core at the limit of `isa`'s inner sequence; 0 if unknown.
double peak_gops(const PortProbe& probe, kernels::CpuIsa isa);

}  // namespace amanuensis::perf
