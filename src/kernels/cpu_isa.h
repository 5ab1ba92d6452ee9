// Which instruction set the CPU kernels use: detected once, cached, and overridable with the
// environment variable AMANUENSIS_CPU_ISA=generic|avx2|avx512 (never above what the CPU has).
#pragma once

#include <string_view>

namespace amanuensis::kernels {

enum class CpuIsa {
  kGeneric,     // portable C++ (any CPU, ARM included)
  kAvx2,        // AVX2 + FMA + F16C
  kAvx512Vnni,  // AVX-512 F/BW/DQ/VL + VNNI (int8 dot products)
};

// The best instruction set this CPU and the override allow; computed on the first call.
CpuIsa cpu_isa();
// Whether the CPU itself (ignoring the override) can run `isa`.
bool cpu_supports(CpuIsa isa);
std::string_view cpu_isa_name(CpuIsa isa);

}  // namespace amanuensis::kernels
