// OpenBLAS, loaded at run time. Loading it ourselves lets us pick its kernels: OpenBLAS releases
// before 0.3.22 (Debian 12 ships 0.3.21) do not recognise AMD Zen 4 and fall back to their
// AVX2 "Haswell" kernels, at about half the speed of their AVX-512 "SkylakeX" ones; when the CPU
// has AVX-512 and the user has not chosen (OPENBLAS_CORETYPE), we choose SkylakeX. OpenBLAS runs
// single-threaded: our thread pool splits the products.
#pragma once

namespace amanuensis::kernels {

struct Blas {
  // Row-major only; trans flags as CBLAS (111 no, 112 yes).
  void (*sgemm)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
  void (*sgemv)(int order, int trans, int m, int n, float alpha, const float* a, int lda,
                const float* x, int incx, float beta, float* y, int incy);
  const char* core = "unknown";
};

inline constexpr int kRowMajor = 101;
inline constexpr int kNoTrans = 111;
inline constexpr int kTrans = 112;

// Loads OpenBLAS on the first call; throws amanuensis::Error when it cannot be found.
const Blas& blas();

}  // namespace amanuensis::kernels
