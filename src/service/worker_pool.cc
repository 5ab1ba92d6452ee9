#include "service/worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <string>
#include <utility>

namespace amanuensis::service {

namespace {
// Weight of the newest task in the moving average: recent load matters, one outlier does not.
constexpr double kAverageWeight = 0.2;
}  // namespace

WorkerPool::WorkerPool(int workers, int max_queue) : max_queue_(std::max(0, max_queue)) {
  const int count = std::max(1, workers);
  threads_.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) threads_.emplace_back([this, i] { work(i); });
}

WorkerPool::~WorkerPool() { shutdown(); }

bool WorkerPool::try_submit(std::shared_ptr<PoolTask> task) {
  {
    const std::lock_guard lock(mutex_);
    // Tasks that idle workers are about to take do not wait, so only the rest count against
    // max_queue.
    const int idle = static_cast<int>(threads_.size()) - busy_;
    const int waiting_after = static_cast<int>(queue_.size()) + 1 - idle;
    if (stopping_ || waiting_after > max_queue_) return false;
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

bool WorkerPool::submit_unbounded(std::shared_ptr<PoolTask> task) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return false;
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

bool WorkerPool::withdraw(const PoolTask& task) {
  const std::lock_guard lock(mutex_);
  const auto found = std::find_if(queue_.begin(), queue_.end(),
                                  [&](const auto& queued) { return queued.get() == &task; });
  if (found == queue_.end()) return false;
  queue_.erase(found);
  return true;
}

void WorkerPool::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

int WorkerPool::queued() const {
  const std::lock_guard lock(mutex_);
  // Tasks an idle worker is about to pick up are not waiting.
  return std::max(
      0, static_cast<int>(queue_.size()) - std::max(0, static_cast<int>(threads_.size()) - busy_));
}

int WorkerPool::busy() const {
  const std::lock_guard lock(mutex_);
  return busy_;
}

double WorkerPool::mean_task_seconds() const {
  const std::lock_guard lock(mutex_);
  return mean_task_seconds_;
}

void WorkerPool::work(int index) {
  const std::string name = "amanuensis-w" + std::to_string(index);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  while (true) {
    std::shared_ptr<PoolTask> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    const auto started = std::chrono::steady_clock::now();
    task->run();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    task.reset();  // free the task's audio before waiting for the next one
    const std::lock_guard lock(mutex_);
    --busy_;
    mean_task_seconds_ = (1.0 - kAverageWeight) * mean_task_seconds_ + kAverageWeight * seconds;
  }
}

}  // namespace amanuensis::service
