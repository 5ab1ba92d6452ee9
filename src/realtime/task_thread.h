// A one-thread executor (realtime::Executor): tasks run in order on a thread of their own, as a
// worker pool would run them. `amanuensis listen` decodes on one; so do the tests.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace amanuensis::realtime {

class TaskThread {
 public:
  TaskThread() : thread_([this](const std::stop_token& stop) { loop(stop); }) {}
  ~TaskThread() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
  }
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // The executor to hand out; valid while this object lives.
  std::function<void(std::function<void()>)> executor() {
    return [this](std::function<void()> task) {
      {
        const std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
      }
      ready_.notify_all();
    };
  }

 private:
  void loop(const std::stop_token& /*stop*/) {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and every task has run
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::jthread thread_;  // last: it starts once the rest is built, and is joined first
};

}  // namespace amanuensis::realtime
