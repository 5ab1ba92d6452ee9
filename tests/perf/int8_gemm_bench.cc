// Micro-benchmark of the int8 GEMM kernels, one core, at Whisper base's shapes, against the port
// limit of each path on this CPU (bench/README.md, "int8 GEMM per path").
//
//   int8_gemm_bench [--isa NAME]... [--reps N] [--shape MxKxN]... [--blocks] [--probe-only]
//
// --blocks: the weights in block mode (a scale per 32 columns, as ggml's q8_0 / q5_0 / q4_0 load).
//
// For every vector int8 path (or those named; avx_vnni through its EVEX twin where the CPU has
// AVX-512 VNNI but not AVX-VNNI, see int8_gemm_internal.h), each shape is timed `reps` times (one
// product = the kernel over all rows, in the row chunks of 96 that CpuBackend::linear_int8 hands
// its tasks; activation quantisation not included) and the best and median GOP/s are printed
// (1 multiply-add = 2 operations), timed in thread CPU seconds. The probe first measures the core
// clock (a chain of dependent adds) and the peak rate of each path's inner instruction sequence
// with no loads, which is the limit a kernel can approach: see int8_port_probe.cc.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "int8_port_probe.h"
#include "kernels/cpu_isa.h"
#include "kernels/int8_gemm.h"
#include "kernels/int8_gemm_internal.h"

namespace {

namespace k = amanuensis::kernels;
// Time this thread ran: on a machine shared with other jobs, wall time counts their turns too.
double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Shape {
  int m, k, n;
  const char* what;
};

// Whisper base (width 512, feed-forward 2048, vocabulary 51865): encoder layers over a 30 s window
// (1500 positions), decoder layers and logits for one step of 1, 5 (beam) or 40 (prompt) rows.
const std::vector<Shape> kBaseShapes = {
    {1500, 512, 512, "enc q/k/v/out"}, {1500, 512, 1536, "enc qkv fused"},
    {1500, 512, 2048, "enc fc1"},      {1500, 2048, 512, "enc fc2"},
    {1, 512, 512, "dec proj, greedy"}, {5, 512, 512, "dec proj, beam 5"},
    {5, 512, 2048, "dec fc1, beam 5"}, {5, 2048, 512, "dec fc2, beam 5"},
    {40, 512, 1536, "dec prompt qkv"}, {5, 512, 51865, "logits, beam 5"},
    {1, 512, 51865, "logits, greedy"},
};

std::vector<float> values(std::size_t n, float scale, unsigned seed) {
  std::vector<float> out(n);
  unsigned state = seed * 2654435761U + 1;
  for (auto& v : out) {
    state = state * 1664525U + 1013904223U;
    v = scale * (static_cast<float>(state >> 8) / 8388608.0F - 1.0F);
  }
  return out;
}

// One kernel to time: a path through int8_gemm, or the avx_vnni kernel's EVEX twin.
struct Kernel {
  std::string name;
  k::CpuIsa isa;  // the activations' form
  void (*gemm)(k::CpuIsa, const k::QuantizedRows&, int, int, const k::Int8Matrix&, int, int,
               const float*, float*, int);
  double peak_gops;
};

void through_int8_gemm(k::CpuIsa isa, const k::QuantizedRows& a, int r0, int r1,
                       const k::Int8Matrix& w, int n0, int n1, const float* bias, float* y,
                       int ldy) {
  k::int8_gemm(isa, a, r0, r1, w, n0, n1, bias, y, ldy);
}

void through_evex_twin(k::CpuIsa /*isa*/, const k::QuantizedRows& a, int r0, int r1,
                       const k::Int8Matrix& w, int n0, int n1, const float* bias, float* y,
                       int ldy) {
#if defined(__x86_64__)
  k::int8_detail::gemm_avx_vnni_evex(a, r0, r1, w, n0, n1, bias, y, ldy);
#else
  k::int8_gemm(k::CpuIsa::kGeneric, a, r0, r1, w, n0, n1, bias, y, ldy);
#endif
}

// Seconds for one product of `a` (already quantised) by `w`, as the backend splits it.
double time_product(const Kernel& kernel, const k::QuantizedRows& a, const k::Int8Matrix& w,
                    const float* bias, std::vector<float>& y) {
  constexpr int kRowChunk = 96;
  const double start = thread_seconds();
  for (int r0 = 0; r0 < a.rows; r0 += kRowChunk) {
    const int r1 = std::min(a.rows, r0 + kRowChunk);
    kernel.gemm(kernel.isa, a, r0, r1, w, 0, w.padded_rows, bias, y.data(), w.rows);
  }
  return thread_seconds() - start;
}

// The per-row matrix `w` in block mode: the same levels, each block with its row's scale.
k::Int8Matrix as_blocks(const k::Int8Matrix& w) {
  std::vector<std::int8_t> q(static_cast<std::size_t>(w.rows) * w.cols);
  std::vector<float> scales(q.size() / k::kInt8BlockColumns);
  for (int r = 0; r < w.rows; ++r) {
    for (int c = 0; c < w.cols; ++c) q[static_cast<std::size_t>(r) * w.cols + c] = w.q(r, c);
    for (int b = 0; b < w.cols / k::kInt8BlockColumns; ++b)
      scales[static_cast<std::size_t>(r) * (w.cols / k::kInt8BlockColumns) + b] = w.scales[r];
  }
  return k::pack_int8_blocks(q.data(), scales.data(), w.rows, w.cols);
}

void bench_shape(const Kernel& kernel, const Shape& s, int reps, bool blocks) {
  const auto wf = values(static_cast<std::size_t>(s.n) * s.k, 0.05F, 1);
  const auto x = values(static_cast<std::size_t>(s.m) * s.k, 1.0F, 2);
  const auto bias = values(s.n, 0.1F, 3);
  const auto w = blocks ? as_blocks(k::quantize_int8(wf.data(), s.n, s.k, s.k))
                        : k::quantize_int8(wf.data(), s.n, s.k, s.k);
  k::QuantizedRows a;
  k::quantize_rows(kernel.isa, x.data(), s.m, s.k, s.k, w, a);
  std::vector<float> y(static_cast<std::size_t>(s.m) * s.n);
  // Small products repeat inside one timing so that each lasts at least ~2 ms.
  const double ops = 2.0 * s.m * s.n * s.k;
  const int inner = std::max(1, static_cast<int>(2e-3 / (ops / 50e9)));
  std::vector<double> seconds;
  for (int r = 0; r < reps + 1; ++r) {
    double t = 0;
    for (int i = 0; i < inner; ++i) t += time_product(kernel, a, w, bias.data(), y);
    if (r > 0) seconds.push_back(t / inner);  // the first run warms caches and clocks
  }
  std::sort(seconds.begin(), seconds.end());
  const double best = ops / seconds.front() * 1e-9;
  const double median = ops / seconds[seconds.size() / 2] * 1e-9;
  std::printf("%-13s %5d %5d %6d  %-17s %9.3f  %7.1f  %7.1f  %5.0f%%\n", kernel.name.c_str(), s.m,
              s.k, s.n, s.what, seconds.front() * 1e3, best, median,
              kernel.peak_gops > 0 ? 100.0 * best / kernel.peak_gops : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<k::CpuIsa> isas;
  std::vector<Shape> shapes;
  int reps = 7;
  bool probe_only = false;
  bool blocks = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--isa" && i + 1 < argc) {
      const auto isa = k::parse_cpu_isa(argv[++i]);
      if (!isa) {
        std::fprintf(stderr, "unknown --isa %s\n", argv[i]);
        return 2;
      }
      isas.push_back(*isa);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--shape" && i + 1 < argc) {
      Shape s{0, 0, 0, "custom"};
      if (std::sscanf(argv[++i], "%dx%dx%d", &s.m, &s.k, &s.n) != 3) return 2;
      shapes.push_back(s);
    } else if (arg == "--blocks") {
      blocks = true;
    } else if (arg == "--probe-only") {
      probe_only = true;
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--isa NAME]... [--reps N] [--shape MxKxN]... [--blocks] [--probe-only]\n",
          argv[0]);
      return 2;
    }
  }
  if (isas.empty()) {
    for (const auto isa : k::all_cpu_isas()) {
      if (isa != k::CpuIsa::kGeneric) isas.push_back(isa);  // generic: ask for it (slow)
    }
  }
  if (shapes.empty()) shapes = kBaseShapes;

  const auto probe = amanuensis::perf::probe_ports();
  amanuensis::perf::print_probe(probe);
  if (probe_only) return 0;
  std::vector<Kernel> kernels;
  for (const auto isa : isas) {
    const std::string name(k::cpu_isa_name(isa));
    if (k::cpu_supports(isa)) {
      kernels.push_back({name, isa, through_int8_gemm, amanuensis::perf::peak_gops(probe, isa)});
    } else if (isa == k::CpuIsa::kAvxVnni && k::cpu_supports(k::CpuIsa::kAvx512Vnni)) {
      // Same kernel, EVEX encoding of its vpdpbusd: its speed here stands in for avx_vnni's.
      kernels.push_back(
          {"avx_vnni-evex", isa, through_evex_twin, 2.0 * probe.vnni_ymm_evex * probe.ghz});
    } else {
      std::printf("%s skipped: this CPU cannot run it\n", name.c_str());
    }
  }
  std::printf("\n%-13s %5s %5s %6s  %-17s %9s  %7s  %7s  %6s\n", "path", "M", "K", "N", "layer",
              "best ms", "GOP/s", "median", "limit");
  for (const auto& kernel : kernels) {
    for (const auto& s : shapes) bench_shape(kernel, s, reps, blocks);
  }
  return 0;
}
