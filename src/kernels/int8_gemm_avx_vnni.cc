// The avx_vnni path: {vex} vpdpbusd on 256 bits (Intel 12th gen and later, Zen 5), and its EVEX
// twin for CPUs with AVX-512 VNNI only (int8_gemm_internal.h). One body (int8_gemm_vnni256-inl.h)
// compiled twice; the two copies differ only in the encoding of that one instruction.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/int8_gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* helpers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define AMANUENSIS_VNNI256_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define AMANUENSIS_VNNI256_NAMESPACE vex
#define AMANUENSIS_VNNI256_DPBUSD _mm256_dpbusd_avx_epi32
#define AMANUENSIS_VNNI256_GEMM gemm_avx_vnni
#define AMANUENSIS_VNNI256_MAX_ROWS 6
#define AMANUENSIS_VNNI256_FORM ActivationForm::kBiased
#include "kernels/int8_gemm_vnni256-inl.h"

#define AMANUENSIS_VNNI256_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni")))
#define AMANUENSIS_VNNI256_NAMESPACE evex
#define AMANUENSIS_VNNI256_DPBUSD _mm256_dpbusd_epi32
#define AMANUENSIS_VNNI256_GEMM gemm_avx_vnni_evex
#define AMANUENSIS_VNNI256_MAX_ROWS 6
#define AMANUENSIS_VNNI256_FORM ActivationForm::kBiased
#include "kernels/int8_gemm_vnni256-inl.h"

#endif  // __x86_64__
