#include "kernels/blas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "amanuensis/amanuensis.h"
#include "kernels/cpu_isa.h"

namespace amanuensis::kernels {

namespace {

bool has_avx512_for_openblas() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
#else
  return false;
#endif
}

// Debian multiarch (any architecture) keeps libopenblas.so.0 in /usr/lib/<triplet>, a link to
// the variant chosen with update-alternatives; the variants' own folders come next, for systems
// where the link is missing or the loader does not search that folder (a foreign-architecture
// loader, e.g. under qemu-user).
#if defined(__aarch64__)
#define AMANUENSIS_MULTIARCH "/usr/lib/aarch64-linux-gnu/"
#elif defined(__x86_64__)
#define AMANUENSIS_MULTIARCH "/usr/lib/x86_64-linux-gnu/"
#endif
constexpr const char* kOpenBlasNames[] = {
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblasp.so.0",
#ifdef AMANUENSIS_MULTIARCH
    AMANUENSIS_MULTIARCH "libopenblas.so.0",
    AMANUENSIS_MULTIARCH "openblas-pthread/libopenblas.so.0",
    AMANUENSIS_MULTIARCH "openblas-openmp/libopenblas.so.0",
    AMANUENSIS_MULTIARCH "openblas-serial/libopenblas.so.0",
#endif
};
#undef AMANUENSIS_MULTIARCH

Blas load() {
  // Must be set before the library initialises, that is before dlopen. A forced avx2 or
  // avx_vnni path (cpu_isa.h) caps OpenBLAS at its AVX2 kernels too, as it caps Highway.
  const CpuIsa isa = cpu_isa();
  if (has_avx512_for_openblas() && isa == CpuIsa::kAvx512Vnni) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", /*overwrite=*/0);
  } else if (isa == CpuIsa::kAvx2 || isa == CpuIsa::kAvxVnni) {
    setenv("OPENBLAS_CORETYPE", "Haswell", /*overwrite=*/0);
  }
  setenv("OPENBLAS_NUM_THREADS", "1", /*overwrite=*/0);
  void* handle = nullptr;
  for (const char* name : kOpenBlasNames) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
  }
  if (handle == nullptr) {
    throw Error(
        "OpenBLAS (libopenblas.so.0) not found; install libopenblas0 (Debian; for this "
        "CPU's architecture, e.g. libopenblas0:arm64 on ARM64)");
  }
  Blas b;
  b.sgemm = reinterpret_cast<decltype(b.sgemm)>(dlsym(handle, "cblas_sgemm"));
  b.sgemv = reinterpret_cast<decltype(b.sgemv)>(dlsym(handle, "cblas_sgemv"));
  auto* set_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
  auto* corename = reinterpret_cast<const char* (*)()>(dlsym(handle, "openblas_get_corename"));
  if (b.sgemm == nullptr || b.sgemv == nullptr)
    throw Error("OpenBLAS lacks cblas_sgemm/cblas_sgemv");
  if (set_threads != nullptr) set_threads(1);
  if (corename != nullptr) b.core = corename();
  return b;
}

}  // namespace

const Blas& blas() {
  static const Blas loaded = load();
  return loaded;
}

}  // namespace amanuensis::kernels
