#include "kernels/cpu_features_arm.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

// The bit values of the Linux arm64 ABI (arch/arm64/include/uapi/asm/hwcap.h), for C libraries
// whose headers predate them.
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif

namespace amanuensis::kernels {

bool arm_has_neon() { return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0; }
bool arm_has_dotprod() { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }
bool arm_has_i8mm() { return (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0; }

}  // namespace amanuensis::kernels

#else

namespace amanuensis::kernels {

bool arm_has_neon() { return false; }
bool arm_has_dotprod() { return false; }
bool arm_has_i8mm() { return false; }

}  // namespace amanuensis::kernels

#endif
