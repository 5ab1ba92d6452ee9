// Durable transcription jobs in Redis: any instance can queue a job, any worker can take it, and
// a result outlives the process that made it.
//
// Layout under a key prefix P:
//   P:stream          a stream of job ids, read by the consumer group "workers"
//   P:job:<id>        a hash: state, request (JSON), audio, attempts, owner, progress, result,
//   error
// A worker owns a job while its stream entry is pending for it; it renews that claim as it
// works. An entry idle for longer than the visibility timeout (its worker died) is claimed by
// another worker. Every state change is a Lua script that first checks the caller still owns
// the job, so a job is completed at most once even if a slow worker wakes up late.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "jobs/redis_connection.h"

namespace amanuensis::jobs {

struct JobStoreConfig {
  std::string key_prefix = "amanuensis";
  std::chrono::seconds result_ttl{24 * 3600};  // done/failed/cancelled jobs expire then
  std::chrono::milliseconds visibility_timeout{
      30000};            // unrenewed claims are taken over after this
  int max_attempts = 3;  // failures (or lost workers) before giving up
};

// A claimed job, as the worker sees it.
struct Lease {
  std::string job_id;
  std::string entry_id;  // the stream entry the claim is on
  std::string consumer;
  std::string request;  // as submitted
  std::string audio;    // the uploaded bytes; empty when the request names a path
  int attempt = 1;
};

// The public view of a job.
struct JobStatus {
  std::string id;
  std::string state;            // queued, running, done, failed, cancelled
  double progress_done = 0.0;   // audio seconds transcribed
  double progress_total = 0.0;  // audio seconds in all
  int attempts = 0;
  std::string error;
  std::string result;  // when done
  std::string request;
  double created_at = 0.0;  // Unix seconds
  double updated_at = 0.0;
};

enum class ClaimState { kOwned, kLost, kCancelled };

class JobStore {
 public:
  JobStore(RedisAddress address, JobStoreConfig config);

  [[nodiscard]] const JobStoreConfig& config() const { return config_; }

  // Stores the job and queues it; returns its id.
  std::string submit(std::string_view request, std::string_view audio);
  [[nodiscard]] std::optional<JobStatus> status(const std::string& id);
  // Cancels a queued or running job; false when it is unknown or already finished.
  bool cancel(const std::string& id);

  // Worker side. Takes a job whose worker was lost, else waits up to `wait` for a new one.
  std::optional<Lease> take(const std::string& consumer, std::chrono::milliseconds wait);
  // Extends the claim; says whether it is still ours and whether the job was cancelled.
  ClaimState renew(const Lease& lease);
  void report_progress(const Lease& lease, double done, double total);
  // Records the result unless the claim was lost meanwhile; true when this call completed it.
  bool complete(const Lease& lease, std::string_view result);
  // Records a failure: the job is queued again while attempts remain, else marked failed.
  void fail(const Lease& lease, std::string_view error, bool retryable);

 private:
  [[nodiscard]] std::string job_key(const std::string& id) const;
  void ensure_group();
  std::optional<Lease> start(const std::string& consumer, const std::string& entry_id,
                             const std::string& job_id);

  JobStoreConfig config_;
  RedisConnection redis_;
  std::string stream_;
  bool group_ready_ = false;
};

}  // namespace amanuensis::jobs
