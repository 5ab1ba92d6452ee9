#include "kernels/cpu_isa.h"

#include <cstdlib>
#include <string>

namespace amanuensis::kernels {

bool cpu_supports(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kGeneric:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
#else
    default:
      return false;
#endif
  }
  return false;
}

std::string_view cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kGeneric:
      return "generic";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512Vnni:
      return "avx512";
  }
  return "generic";
}

namespace {

CpuIsa detect() {
  CpuIsa best = CpuIsa::kGeneric;
  if (cpu_supports(CpuIsa::kAvx2)) best = CpuIsa::kAvx2;
  if (cpu_supports(CpuIsa::kAvx512Vnni)) best = CpuIsa::kAvx512Vnni;
  if (const char* forced = std::getenv("AMANUENSIS_CPU_ISA")) {
    const std::string name(forced);
    for (const auto isa : {CpuIsa::kGeneric, CpuIsa::kAvx2, CpuIsa::kAvx512Vnni}) {
      if (name == cpu_isa_name(isa) && static_cast<int>(isa) <= static_cast<int>(best)) return isa;
    }
  }
  return best;
}

}  // namespace

CpuIsa cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

}  // namespace amanuensis::kernels
