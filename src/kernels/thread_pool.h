// A fixed set of worker threads, created once, that run parallel loops. No thread is created
// and nothing is allocated per loop: the caller publishes a task count and a function, workers
// (and the caller itself) claim task indices from an atomic counter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace amanuensis::kernels {

class ThreadPool {
 public:
  // `threads` counts the caller: 1 runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  [[nodiscard]] int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(i) for every i in [0, n), spread over the pool; returns when all are done.
  // A loop started from inside a task, or while another caller's loop runs, runs inline.
  void run(int n, const std::function<void(int)>& task);

  // Splits [0, n) into about one contiguous chunk per thread (each a multiple of `grain`,
  // except the last) and calls body(begin, end) for each.
  template <typename Body>
  void for_range(int n, int grain, Body&& body) {
    const int threads = size();
    if (n <= grain || threads == 1) {
      if (n > 0) body(0, n);
      return;
    }
    const int units = (n + grain - 1) / grain;
    const int chunks = std::min(threads, units);
    const int per_chunk = (units + chunks - 1) / chunks;
    run(chunks, [&](int c) {
      const int begin = c * per_chunk * grain;
      const int end = std::min(n, (c + 1) * per_chunk * grain);
      if (begin < end) body(begin, end);
    });
  }

 private:
  void worker_loop();
  void work_on(const std::function<void(int)>& task, int n);  // claims indices until none left

  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the caller of the running loop
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* task_ = nullptr;
  int count_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> finished_{0};
  std::atomic<std::uint64_t> generation_{0};
  int active_workers_ = 0;
  bool stop_ = false;
};

}  // namespace amanuensis::kernels
