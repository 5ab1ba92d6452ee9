// N workers and a bounded queue in front of them.
//
// Each worker runs one task at a time; the model they share is immutable, so a task carries all
// of its own decoding state. Queuing is bounded so that an overloaded server answers 429 at once
// rather than holding every upload in memory behind a queue that only grows.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace amanuensis::service {

class PoolTask {
 public:
  PoolTask() = default;
  PoolTask(const PoolTask&) = delete;
  PoolTask& operator=(const PoolTask&) = delete;
  virtual ~PoolTask() = default;
  // Runs on a worker thread; must not throw (a task reports its own failures).
  virtual void run() noexcept = 0;
};

class WorkerPool {
 public:
  // `max_queue` tasks may wait beyond the `workers` running ones.
  WorkerPool(int workers, int max_queue);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  // Queues `task`; false when max_queue tasks are already waiting (or the pool is shut down).
  bool try_submit(std::shared_ptr<PoolTask> task);
  // Queues `task` whatever the queue's length; false only once the pool is shut down. For live
  // sessions' decodes: each session has at most one waiting and --max-live-sessions bounds the
  // sessions, so refusing one would only fail a turn that the bound already accounts for.
  bool submit_unbounded(std::shared_ptr<PoolTask> task);
  // Takes back a task that is still waiting (its client went away); false once a worker has it.
  bool withdraw(const PoolTask& task);

  // Runs what is queued, then stops the workers. Idempotent; the destructor calls it.
  void shutdown();

  [[nodiscard]] int workers() const { return static_cast<int>(threads_.size()); }
  [[nodiscard]] int max_queue() const { return max_queue_; }
  [[nodiscard]] int queued() const;
  [[nodiscard]] int busy() const;
  // Moving average of how long a task runs, for Retry-After estimates.
  [[nodiscard]] double mean_task_seconds() const;

 private:
  void work(int index);

  const int max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<PoolTask>> queue_;
  int busy_ = 0;
  bool stopping_ = false;
  double mean_task_seconds_ = 1.0;
  std::vector<std::thread> threads_;
};

}  // namespace amanuensis::service
