// Micro-benchmark of the attention kernels at Whisper base's sizes (width 512, 8 heads of 64,
// 1500 audio positions), medians of repeated runs; not a test.
//
//   attention_bench [--threads N] [--repeats N] [--windows N]
//
// cross: one decoding step's cross-attention over all 6 layers, for 1 and 5 query rows (greedy,
//   beam 5) and 40 (an alignment step), with each window's caches distinct (windows x 37 MB in
//   float32, half that in float16), as decoding sees them: each step streams them from memory.
//   f32 = attention_head_major on the float32 cache, f16 = attention_half_cache.
// encoder: one encoder layer's self-attention (1500 x 1500, 8 heads), Backend::attention.
// AMANUENSIS_CPU_ISA and the Highway target (AMANUENSIS_BENCH_TARGET=AVX2|AVX3|...) pick the
// kernels, as elsewhere.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/flash_attention_i16.h"
#include "kernels/half_cache.h"
#include "kernels/vector_ops.h"

namespace {

namespace k = amanuensis::kernels;

constexpr int kWidth = 512;
constexpr int kHeads = 8;
constexpr int kHeadDim = kWidth / kHeads;
constexpr int kKeys = 1500;
constexpr int kLayers = 6;

std::vector<float> values(std::size_t n, unsigned seed) {
  std::vector<float> out(n);
  unsigned state = seed * 2654435761U + 1;
  for (auto& v : out) {
    state = state * 1664525U + 1013904223U;
    v = static_cast<float>(state >> 8) / 8388608.0F - 1.0F;
  }
  return out;
}

// With one thread, the calling thread's CPU time: on a host shared with other jobs it leaves out
// the time the scheduler gave them (memory bandwidth they take still shows). Else wall time.
bool g_cpu_time = false;

double now_ms() {
  if (g_cpu_time) {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The median, or with AMANUENSIS_BENCH_MIN set the minimum (the least disturbed run).
double median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return std::getenv("AMANUENSIS_BENCH_MIN") != nullptr ? times.front() : times[times.size() / 2];
}

// Medians of a and b run alternately, so that both see the same load on a shared host.
template <typename A, typename B>
std::pair<double, double> paired_median_ms(int repeats, const A& a, const B& b) {
  a();  // warm: page faults, scratch
  b();
  std::vector<double> ta, tb;
  for (int i = 0; i < repeats; ++i) {
    double start = now_ms();
    a();
    ta.push_back(now_ms() - start);
    start = now_ms();
    b();
    tb.push_back(now_ms() - start);
  }
  return {median(ta), median(tb)};
}

struct Window {
  std::vector<std::vector<float>> keys, values;                    // per layer, head-major
  std::vector<std::vector<std::uint16_t>> half_keys, half_values;  // per layer
};

Window make_window(unsigned seed) {
  Window w;
  const k::HalfKeyValues layout{nullptr, nullptr, kKeys, kHeads, kHeadDim};
  for (int l = 0; l < kLayers; ++l) {
    const auto kv = values(static_cast<std::size_t>(kKeys) * 2 * kWidth, seed * 16 + l);
    w.keys.emplace_back(static_cast<std::size_t>(kKeys) * kWidth);
    w.values.emplace_back(static_cast<std::size_t>(kKeys) * kWidth);
    for (int h = 0; h < kHeads; ++h) {
      for (int t = 0; t < kKeys; ++t) {
        const float* row = kv.data() + static_cast<std::size_t>(t) * 2 * kWidth + h * kHeadDim;
        const auto to = (static_cast<std::size_t>(h) * kKeys + t) * kHeadDim;
        std::copy(row, row + kHeadDim, w.keys.back().begin() + static_cast<std::ptrdiff_t>(to));
        std::copy(row + kWidth, row + kWidth + kHeadDim,
                  w.values.back().begin() + static_cast<std::ptrdiff_t>(to));
      }
    }
    w.half_keys.emplace_back(layout.key_elements());
    w.half_values.emplace_back(layout.value_elements());
    k::pack_half_key_values(kv.data(), kv.data() + kWidth, 2 * kWidth, w.half_keys.back().data(),
                            w.half_values.back().data(), kKeys, kHeads, kHeadDim);
  }
  return w;
}

void bench_cross(k::Backend& backend, int repeats, int windows) {
  std::vector<Window> ws;
  for (int w = 0; w < windows; ++w) ws.push_back(make_window(static_cast<unsigned>(w + 1)));
  const float scale = 0.125F;
  std::vector<int> row_counts = {1, 5, 40};
  if (const char* only = std::getenv("AMANUENSIS_BENCH_ROWS")) row_counts = {std::atoi(only)};
  for (const int rows : row_counts) {
    const auto q = values(static_cast<std::size_t>(rows) * kWidth, 99);
    std::vector<float> out(q.size());
    const auto [f32, f16] = paired_median_ms(
        repeats,
        [&] {
          for (const auto& w : ws) {
            for (int l = 0; l < kLayers; ++l) {
              backend.attention_head_major({q.data(), rows, kWidth, kWidth}, w.keys[l].data(),
                                           w.values[l].data(), kKeys, kHeads, scale,
                                           {out.data(), rows, kWidth, kWidth});
            }
          }
        },
        [&] {
          for (const auto& w : ws) {
            for (int l = 0; l < kLayers; ++l) {
              backend.attention_half_cache(
                  {q.data(), rows, kWidth, kWidth},
                  {w.half_keys[l].data(), w.half_values[l].data(), kKeys, kHeads, kHeadDim}, scale,
                  {out.data(), rows, kWidth, kWidth}, {});
            }
          }
        });
    std::printf("cross   rows %2d  windows %d  f32 %8.3f ms  f16 %8.3f ms  f32/f16 %.2fx\n", rows,
                windows, f32, f16, f32 / f16);
  }
}

void bench_encoder(k::Backend& backend, int repeats) {
  const auto qkv = values(static_cast<std::size_t>(kKeys) * 3 * kWidth, 7);
  std::vector<float> out(static_cast<std::size_t>(kKeys) * kWidth);
  const float scale = 0.125F;
  const k::MatrixView q{qkv.data(), kKeys, kWidth, 3 * kWidth};
  const k::MatrixView keys{qkv.data() + kWidth, kKeys, kWidth, 3 * kWidth};
  const k::MatrixView vals{qkv.data() + 2 * kWidth, kKeys, kWidth, 3 * kWidth};
  const auto [f32, reduced] = paired_median_ms(
      repeats,
      [&] {
        backend.attention(q, keys, vals, kHeads, scale, -1, {out.data(), kKeys, kWidth, kWidth});
      },
      [&] {
        backend.attention_reduced(q, keys, vals, kHeads, scale,
                                  {out.data(), kKeys, kWidth, kWidth});
      });
  std::printf("encoder attention, one layer: f32 %8.3f ms  reduced (%s) %8.3f ms  %.2fx\n", f32,
              k::i16_attention_supported() ? "int16" : "f32", reduced, f32 / reduced);
}

int argument(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argument(argc, argv, "--threads", 2);
  const int repeats = argument(argc, argv, "--repeats", 21);
  const int windows = argument(argc, argv, "--windows", 1);
  if (const char* target = std::getenv("AMANUENSIS_BENCH_TARGET")) {
    for (const auto t : k::vector_ops_available_targets()) {
      k::vector_ops_force_target(t);
      if (std::string(k::vector_ops_target()) == target) break;
    }
  }
  g_cpu_time = threads == 1;
  const auto backend = k::make_cpu_backend(threads);
  std::printf("%s, threads %d, repeats %d, %s time\n", backend->describe().c_str(), threads,
              repeats, g_cpu_time ? "thread CPU" : "wall");
  bench_cross(*backend, repeats, windows);
  bench_encoder(*backend, std::max(3, repeats / 4));
  return 0;
}
