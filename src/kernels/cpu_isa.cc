#include "kernels/cpu_isa.h"

#include <array>
#include <cstdlib>
#include <string>

#include "util/log.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kernels/cpu_features_arm.h"

namespace amanuensis::kernels {

namespace {

#if defined(__x86_64__)
bool x86_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

// GCC 12's __builtin_cpu_supports has no "avxvnni" (GCC 13 does), so ask cpuid: leaf 7
// sub-leaf 1, EAX bit 4. The OS must also save the ymm state, which AVX2 support implies here.
bool x86_avx_vnni() {
  if (!x86_avx2()) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return ((eax >> 4) & 1U) != 0;
}

bool x86_avx512_vnni() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}
#elif defined(__aarch64__)
bool arm_neon_dotprod() { return arm_has_neon() && arm_has_dotprod(); }
bool arm_neon_i8mm() { return arm_has_neon() && arm_has_i8mm(); }
#endif

bool always() { return true; }

struct Path {
  CpuIsa isa;
  std::string_view name;
  bool (*detect)();
};

// The paths this build has, most preferred first: where a CPU has both AVX-512 VNNI and AVX-VNNI
// (Sapphire Rapids, Zen 5), the 512-bit kernel does twice the work per instruction; smmla does
// twice the products of sdot.
constexpr std::array kPaths = {
#if defined(__x86_64__)
    Path{CpuIsa::kAvx512Vnni, "avx512", x86_avx512_vnni},
    Path{CpuIsa::kAvxVnni, "avx_vnni", x86_avx_vnni},
    Path{CpuIsa::kAvx2, "avx2", x86_avx2},
#elif defined(__aarch64__)
    Path{CpuIsa::kNeonI8mm, "neon_i8mm", arm_neon_i8mm},
    Path{CpuIsa::kNeonDotprod, "neon_dotprod", arm_neon_dotprod},
    Path{CpuIsa::kNeon, "neon", arm_has_neon},
#endif
    Path{CpuIsa::kGeneric, "generic", always},
};

constexpr std::array kOrder = [] {
  std::array<CpuIsa, kPaths.size()> order{};
  for (std::size_t i = 0; i < kPaths.size(); ++i) order[i] = kPaths[i].isa;
  return order;
}();

CpuIsa best_supported() {
  for (const auto& path : kPaths) {
    if (cpu_supports(path.isa)) return path.isa;
  }
  return CpuIsa::kGeneric;
}

}  // namespace

bool cpu_supports(CpuIsa isa) {
  // Each detection runs once: __builtin_cpu_supports is cheap, cpuid is not.
  static const auto supported = [] {
    std::array<bool, kPaths.size()> flags{};
    for (std::size_t i = 0; i < kPaths.size(); ++i) flags[i] = kPaths[i].detect();
    return flags;
  }();
  for (std::size_t i = 0; i < kPaths.size(); ++i) {
    if (kPaths[i].isa == isa) return supported[i];
  }
  return false;
}

// Every path's name, whether or not this build has it (kPaths spells the same).
std::string_view cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512Vnni:
      return "avx512";
    case CpuIsa::kAvxVnni:
      return "avx_vnni";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kNeonI8mm:
      return "neon_i8mm";
    case CpuIsa::kNeonDotprod:
      return "neon_dotprod";
    case CpuIsa::kNeon:
      return "neon";
    case CpuIsa::kGeneric:
      break;
  }
  return "generic";
}

std::optional<CpuIsa> parse_cpu_isa(std::string_view name) {
  for (const auto& path : kPaths) {
    if (path.name == name) return path.isa;
  }
  return std::nullopt;
}

std::span<const CpuIsa> all_cpu_isas() { return kOrder; }

std::string supported_cpu_isa_names() {
  std::string names;
  // Reverse order; std::views::reverse would do, but clang 14 (clang-tidy) cannot compile
  // libstdc++ 12's <ranges>.
  // NOLINTNEXTLINE(modernize-loop-convert): a reverse loop, see above
  for (auto it = kPaths.rbegin(); it != kPaths.rend(); ++it) {
    if (!cpu_supports(it->isa)) continue;
    if (!names.empty()) names += ", ";
    names += it->name;
  }
  return names;
}

CpuIsa choose_cpu_isa(const char* forced, std::string* warning) {
  const CpuIsa best = best_supported();
  if (forced == nullptr || *forced == '\0') return best;
  const auto isa = parse_cpu_isa(forced);
  std::string complaint;
  if (!isa) {
    std::string known;
    // NOLINTNEXTLINE(modernize-loop-convert): a reverse loop (see supported_cpu_isa_names)
    for (auto it = kPaths.rbegin(); it != kPaths.rend(); ++it) {
      known += (known.empty() ? "" : ", ") + std::string(it->name);
    }
    complaint =
        "this build has no path named \"" + std::string(forced) + "\" (it has " + known + ")";
  } else if (!cpu_supports(*isa)) {
    complaint = "this CPU cannot run the " + std::string(forced) + " path";
  } else {
    return *isa;
  }
  if (warning != nullptr) {
    *warning = "error: AMANUENSIS_CPU_ISA=" + std::string(forced) + ": " + complaint +
               "; this CPU runs " + supported_cpu_isa_names() + "; using " +
               std::string(cpu_isa_name(best));
  }
  return best;
}

CpuIsa cpu_isa() {
  static const CpuIsa isa = [] {
    std::string warning;
    const CpuIsa chosen = choose_cpu_isa(std::getenv("AMANUENSIS_CPU_ISA"), &warning);
    if (!warning.empty()) util::log(LogLevel::kWarning, warning);
    return chosen;
  }();
  return isa;
}

}  // namespace amanuensis::kernels
