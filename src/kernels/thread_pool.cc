#include "kernels/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace amanuensis::kernels {

namespace {

thread_local bool in_pool_task = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  // isb, not yield: yield is a no-op on most ARM cores, while isb waits some tens of cycles, the
  // pause a spin loop wants.
  __asm__ __volatile__("isb" ::: "memory");
#endif
}

// Spins this long for new work before sleeping: within a decoding step the parallel loops follow
// one another a few microseconds apart, and a futex wake-up costs more than that; between steps
// (the search, a new window) and when idle, workers sleep instead of taking a core from the rest
// of the machine.
constexpr auto kSpinTime = std::chrono::microseconds(50);
constexpr int kSpinsPerClockRead = 64;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::work_on(const std::function<void(int)>& task, int n) {
  in_pool_task = true;
  int done = 0;
  for (int i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) {
    task(i);
    ++done;
  }
  in_pool_task = false;
  if (done > 0) finished_.fetch_add(done);
}

void ThreadPool::worker_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    bool found = false;
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    while (!found) {
      for (int spin = 0; spin < kSpinsPerClockRead; ++spin) {
        if (generation_.load(std::memory_order_acquire) != seen) {
          found = true;
          break;
        }
        cpu_relax();
      }
      if (std::chrono::steady_clock::now() >= spin_until) break;
    }
    std::unique_lock lock(mutex_);
    if (!found) wake_.wait(lock, [&] { return generation_.load() != seen; });
    seen = generation_.load();
    if (stop_) return;
    if (task_ == nullptr) continue;
    // The loop's task and size are read here, under the lock: the caller clears task_ as soon
    // as every index is claimed, possibly while this worker is still starting.
    const auto* task = task_;
    const int n = count_;
    ++active_workers_;
    lock.unlock();
    work_on(*task, n);
    lock.lock();
    if (--active_workers_ == 0) done_.notify_all();
  }
}

void ThreadPool::run(int n, const std::function<void(int)>& task) {
  if (n <= 0) return;
  std::unique_lock busy(busy_, std::defer_lock);
  if (workers_.empty() || n == 1 || in_pool_task || !busy.try_lock()) {
    for (int i = 0; i < n; ++i) task(i);
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    task_ = &task;
    count_ = n;
    next_.store(0);
    finished_.store(0);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work_on(task, n);
  // Every task claimed; wait until those claimed by workers have finished.
  while (finished_.load(std::memory_order_acquire) < n) cpu_relax();
  std::unique_lock lock(mutex_);
  task_ = nullptr;
  done_.wait(lock, [&] { return active_workers_ == 0; });
}

}  // namespace amanuensis::kernels
