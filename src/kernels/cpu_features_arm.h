// ARM64 CPU features behind the neon paths (cpu_isa.h), from the hardware capability bits the
// Linux kernel passes in the auxiliary vector (getauxval): what it reports is what it lets user
// space run. Each is false on other CPUs and systems.
#pragma once

namespace amanuensis::kernels {

bool arm_has_neon();     // Advanced SIMD: every AArch64 CPU (HWCAP_ASIMD)
bool arm_has_dotprod();  // sdot/udot, FEAT_DotProd (HWCAP_ASIMDDP)
bool arm_has_i8mm();     // smmla/ummla/usmmla, FEAT_I8MM (HWCAP2_I8MM)

}  // namespace amanuensis::kernels
