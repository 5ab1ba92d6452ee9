// Which instruction set ("path") the CPU kernels use: detected once and cached. The environment
// variable AMANUENSIS_CPU_ISA forces any path this build has and the CPU runs:
//
//   generic   portable C++ (any CPU)
//   avx2      x86-64 AVX2 + FMA (Haswell and later, Zen 1 to 4)
//   avx_vnni  x86-64 AVX2 + AVX-VNNI: VEX vpdpbusd on 256 bits (Intel 12th gen and later, Zen 5)
//   avx512    x86-64 AVX-512 F/BW/DQ/VL + VNNI (Ice Lake and later, Zen 4 and 5)
//   neon          ARM64 Advanced SIMD (every AArch64 CPU)
//   neon_dotprod  ARM64 + sdot, FEAT_DotProd (Cortex-A76, Neoverse N1, Apple M1 and later)
//   neon_i8mm     ARM64 + smmla, FEAT_I8MM (Neoverse V1/N2, Cortex-A710, Apple M2 and later)
//
// An x86-64 build has generic and the x86 paths, an ARM64 build generic and the neon ones (the
// ARM features come from the kernel's HWCAP bits, cpu_features_arm.h).
//
// A forced path the CPU cannot run, or a name this build does not know, is reported once on
// standard error (naming the path and what the CPU runs) and the best path the CPU runs is used
// instead: a process never dies of a stale setting, and `amanuensis devices` and `bench` print
// the path actually in use. The path also caps the Highway target of the vector ops and the
// attention (vector_ops_limit_to), so that a forced avx2 behaves like an AVX2-only CPU.
//
// Adding a path: an enumerator below, a row in kPaths (cpu_isa.cc) with its name and detection,
// and its kernels in their own file.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace amanuensis::kernels {

enum class CpuIsa {
  kGeneric,
  kAvx2,
  kAvxVnni,
  kAvx512Vnni,
  kNeon,
  kNeonDotprod,
  kNeonI8mm,
};

// The path in use: the best this CPU runs, or the one AMANUENSIS_CPU_ISA forces.
CpuIsa cpu_isa();
// Whether the CPU itself (ignoring the override) can run `isa`.
bool cpu_supports(CpuIsa isa);
std::string_view cpu_isa_name(CpuIsa isa);
// The path called `name` (as AMANUENSIS_CPU_ISA spells it), if this build has it.
std::optional<CpuIsa> parse_cpu_isa(std::string_view name);
// Every path this build has, the most preferred first.
std::span<const CpuIsa> all_cpu_isas();
// "generic, avx2, avx512": the paths this CPU runs, the most preferred last.
std::string supported_cpu_isa_names();

// The choice cpu_isa() makes, given the AMANUENSIS_CPU_ISA value (null: unset); a complaint about
// the value, if any, goes to `warning`. Exposed for tests.
CpuIsa choose_cpu_isa(const char* forced, std::string* warning);

}  // namespace amanuensis::kernels
