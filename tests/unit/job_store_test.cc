#include "jobs/job_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

namespace amanuensis::jobs {
namespace {

using namespace std::chrono_literals;

// A throw-away redis-server on a random loopback port, for the length of one test.
class RedisServer {
 public:
  RedisServer() : port_(20000 + static_cast<int>(std::random_device{}() % 20000)) {
    dir_ = std::filesystem::temp_directory_path() / ("job_store_test_" + std::to_string(port_));
    std::filesystem::create_directories(dir_);
    available_ =
        std::system(("redis-server --port " + std::to_string(port_) +
                     " --bind 127.0.0.1 --save '' --dir " + dir_.string() +
                     " --daemonize yes --pidfile " + (dir_ / "pid").string() + " > /dev/null 2>&1")
                        .c_str()) == 0;
    for (int i = 0; available_ && i < 50; ++i) {
      if (std::system(
              ("redis-cli -p " + std::to_string(port_) + " ping > /dev/null 2>&1").c_str()) == 0)
        return;
      std::this_thread::sleep_for(100ms);
    }
    available_ = false;
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() {
    (void)std::system(
        ("redis-cli -p " + std::to_string(port_) + " shutdown nosave > /dev/null 2>&1").c_str());
    std::filesystem::remove_all(dir_);
  }
  [[nodiscard]] bool available() const { return available_; }
  [[nodiscard]] RedisAddress address() const { return {"127.0.0.1", port_, 0}; }

 private:
  int port_;
  std::filesystem::path dir_;
  bool available_ = false;
};

JobStoreConfig quick_config() {
  JobStoreConfig config;
  config.visibility_timeout = 200ms;
  config.max_attempts = 2;
  return config;
}

TEST(RedisUrlTest, ParsesHostPortAndDatabase) {
  const auto address = parse_redis_url("redis://10.1.2.3:6380/2");
  EXPECT_EQ(address.host, "10.1.2.3");
  EXPECT_EQ(address.port, 6380);
  EXPECT_EQ(address.database, 2);
  EXPECT_EQ(parse_redis_url("localhost").port, 6379);
  EXPECT_THROW(parse_redis_url("http://x"), RedisError);
  EXPECT_THROW(parse_redis_url("redis://x:99999"), RedisError);
}

TEST(JobStoreTest, SubmitTakeCompleteOnce) {
  RedisServer redis;
  if (!redis.available())
    GTEST_SKIP() << "redis-server not installed (scripts/setup.sh installs it)";
  JobStore store(redis.address(), quick_config());
  const auto id = store.submit(R"({"fields":[]})", "AUDIO");
  EXPECT_EQ(store.status(id)->state, "queued");
  const auto lease = store.take("worker-a", 100ms);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->job_id, id);
  EXPECT_EQ(lease->audio, "AUDIO");
  EXPECT_EQ(store.renew(*lease), ClaimState::kOwned);
  EXPECT_TRUE(store.complete(*lease, "RESULT"));
  EXPECT_FALSE(store.complete(*lease, "AGAIN"));  // a second completion is refused
  const auto status = store.status(id);
  EXPECT_EQ(status->state, "done");
  EXPECT_EQ(status->result, "RESULT");
  EXPECT_FALSE(store.take("worker-a", 50ms));
}

TEST(JobStoreTest, ALostWorkersJobIsTakenOverAndTheLateWorkerCannotComplete) {
  RedisServer redis;
  if (!redis.available()) GTEST_SKIP() << "redis-server not installed";
  JobStore store(redis.address(), quick_config());
  const auto id = store.submit("{}", "A");
  const auto first = store.take("worker-a", 100ms);
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(300ms);  // worker-a stops renewing: past the visibility timeout
  const auto second = store.take("worker-b", 100ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->job_id, id);
  EXPECT_EQ(second->attempt, 2);
  EXPECT_EQ(store.renew(*first), ClaimState::kLost);
  EXPECT_FALSE(store.complete(*first, "LATE"));
  EXPECT_TRUE(store.complete(*second, "ON TIME"));
  EXPECT_EQ(store.status(id)->result, "ON TIME");
}

TEST(JobStoreTest, FailuresRetryThenFail) {
  RedisServer redis;
  if (!redis.available()) GTEST_SKIP() << "redis-server not installed";
  JobStore store(redis.address(), quick_config());
  const auto id = store.submit("{}", "A");
  auto lease = store.take("w", 100ms);
  ASSERT_TRUE(lease);
  store.fail(*lease, "transient", /*retryable=*/true);
  EXPECT_EQ(store.status(id)->state, "queued");
  lease = store.take("w", 100ms);
  ASSERT_TRUE(lease);
  store.fail(*lease, "transient again", /*retryable=*/true);  // attempts exhausted
  const auto status = store.status(id);
  EXPECT_EQ(status->state, "failed");
  EXPECT_EQ(status->error, "transient again");

  const auto bad = store.submit("{}", "B");
  lease = store.take("w", 100ms);
  ASSERT_TRUE(lease);
  store.fail(*lease, "undecodable audio", /*retryable=*/false);
  EXPECT_EQ(store.status(bad)->state, "failed");
}

TEST(JobStoreTest, CancelStopsQueuedAndRunningJobs) {
  RedisServer redis;
  if (!redis.available()) GTEST_SKIP() << "redis-server not installed";
  JobStore store(redis.address(), quick_config());
  const auto queued = store.submit("{}", "A");
  EXPECT_TRUE(store.cancel(queued));
  EXPECT_FALSE(store.take("w", 50ms));  // the cancelled job is skipped
  const auto running = store.submit("{}", "B");
  const auto lease = store.take("w", 100ms);
  ASSERT_TRUE(lease);
  EXPECT_TRUE(store.cancel(running));
  EXPECT_EQ(store.renew(*lease), ClaimState::kCancelled);
  EXPECT_FALSE(store.complete(*lease, "X"));
  EXPECT_FALSE(store.cancel(running));
  EXPECT_FALSE(store.cancel("job_unknown"));
}

}  // namespace
}  // namespace amanuensis::jobs
