// The Prometheus exposition and the worker pool's bounded queue.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "service/metrics.h"
#include "service/worker_pool.h"

namespace amanuensis::service {
namespace {

TEST(Metrics, PrometheusText) {
  MetricsRegistry registry;
  auto& requests = registry.counter("requests_total", "Requests", {"endpoint", "status"});
  auto& latency = registry.histogram("latency_seconds", "Latency\nin seconds", {0.1, 1}, {});
  registry.gauge("queue_depth", "Queue", [] { return 3; });
  requests.add({"/v1/audio/transcriptions", "200"});
  requests.add({"/v1/audio/transcriptions", "200"}, 2);
  requests.add({"a\"b\\c\nd", "404"});
  latency.observe(0.05);
  latency.observe(0.5);
  latency.observe(7);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("requests_total{endpoint=\"a\\\"b\\\\c\\nd\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("# HELP latency_seconds Latency\\nin seconds\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_sum 7.55\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE queue_depth gauge\nqueue_depth 3\n"), std::string::npos);
  EXPECT_THROW(requests.add({"only-one-label"}), std::logic_error);
  EXPECT_EQ(prometheus_number(1.0 / 0.0), "+Inf");
}

TEST(Metrics, UnlabelledFamiliesShowBeforeTheirFirstEvent) {
  MetricsRegistry registry;
  registry.counter("audio_seconds_total", "Audio");
  registry.histogram("rtf", "RTF", {1});
  const std::string text = registry.render();
  EXPECT_NE(text.find("audio_seconds_total 0\n"), std::string::npos);
  EXPECT_NE(text.find("rtf_count 0\n"), std::string::npos);
}

// A task that blocks until released, to fill the pool on purpose.
class Gate {
 public:
  void open() {
    {
      const std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

class GatedTask final : public PoolTask {
 public:
  GatedTask(Gate& gate, std::atomic<int>& done) : gate_(gate), done_(done) {}
  void run() noexcept override {
    gate_.wait();
    ++done_;
  }

 private:
  Gate& gate_;
  std::atomic<int>& done_;
};

void wait_until(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(condition());
}

TEST(WorkerPool, BoundedQueue) {
  Gate gate;
  std::atomic<int> done = 0;
  WorkerPool pool(2, 1);
  EXPECT_TRUE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));
  EXPECT_TRUE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));
  wait_until([&] { return pool.busy() == 2; });
  const auto waiting = std::make_shared<GatedTask>(gate, done);
  EXPECT_TRUE(pool.try_submit(waiting));  // the one queue slot
  EXPECT_EQ(pool.queued(), 1);
  EXPECT_FALSE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));  // full: 429
  EXPECT_TRUE(pool.withdraw(*waiting));                                    // its client left
  EXPECT_FALSE(pool.withdraw(*waiting));
  EXPECT_EQ(pool.queued(), 0);
  EXPECT_TRUE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));
  gate.open();
  wait_until([&] { return done == 3; });
  pool.shutdown();
  EXPECT_EQ(pool.busy(), 0);
  EXPECT_FALSE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));
}

TEST(WorkerPool, ShutdownRunsWhatIsQueued) {
  Gate gate;
  std::atomic<int> done = 0;
  WorkerPool pool(1, 4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool.try_submit(std::make_shared<GatedTask>(gate, done)));
  gate.open();
  pool.shutdown();
  EXPECT_EQ(done, 4);
}

}  // namespace
}  // namespace amanuensis::service
