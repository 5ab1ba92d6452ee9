#include "jobs/job_store.h"

#include <charconv>
#include <chrono>
#include <random>

namespace amanuensis::jobs {

namespace {

constexpr std::string_view kGroup = "workers";

std::string now_text() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration<double>(now).count());
}

std::string new_job_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "job_";
  for (int i = 0; i < 24; ++i) id += kHex[random() % 16];
  return id;
}

double to_double(const std::string& text) {
  double value = 0.0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// KEYS: job hash. ARGV: consumer, now, max_attempts. Marks the job running for `consumer`, or
// says why it cannot run: gone (expired), done/failed/cancelled, or failed now (out of attempts).
constexpr std::string_view kStartScript = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'gone' end
if state == 'done' or state == 'failed' or state == 'cancelled' then return state end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[3]) then
  local last = redis.call('HGET', KEYS[1], 'error') or 'its worker was lost'
  redis.call('HSET', KEYS[1], 'state', 'failed', 'updated', ARGV[2],
             'error', 'gave up after ' .. (attempts - 1) .. ' attempts: ' .. last)
  redis.call('HDEL', KEYS[1], 'audio')
  return 'failed'
end
redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1], 'updated', ARGV[2])
return 'running'
)lua";

// KEYS: job hash, stream. ARGV: consumer, result, now, ttl, entry. Completes once, by the owner.
constexpr std::string_view kCompleteScript = R"lua(
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[2], 'updated', ARGV[3])
redis.call('HDEL', KEYS[1], 'audio')
redis.call('HINCRBY', KEYS[1], 'completions', 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('XACK', KEYS[2], 'workers', ARGV[5])
return 1
)lua";

// KEYS: job hash, stream. ARGV: consumer, error, now, ttl, entry, max_attempts, retryable, id.
constexpr std::string_view kFailScript = R"lua(
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
redis.call('XACK', KEYS[2], 'workers', ARGV[5])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if ARGV[7] == '1' and attempts < tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[1], 'state', 'queued', 'error', ARGV[2], 'updated', ARGV[3])
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[8])
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[2], 'updated', ARGV[3])
redis.call('HDEL', KEYS[1], 'audio')
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 2
)lua";

// KEYS: job hash. ARGV: now, ttl. Cancels a job that has not finished.
constexpr std::string_view kCancelScript = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'updated', ARGV[1])
redis.call('HDEL', KEYS[1], 'audio')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

}  // namespace

JobStore::JobStore(RedisAddress address, JobStoreConfig config)
    : config_(std::move(config)),
      redis_(std::move(address)),
      stream_(config_.key_prefix + ":stream") {}

std::string JobStore::job_key(const std::string& id) const {
  return config_.key_prefix + ":job:" + id;
}

void JobStore::ensure_group() {
  if (group_ready_) return;
  try {
    (void)redis_.command({"XGROUP", "CREATE", stream_, kGroup, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (std::string_view(e.what()).find("BUSYGROUP") == std::string_view::npos) throw;
  }
  group_ready_ = true;
}

std::string JobStore::submit(std::string_view request, std::string_view audio) {
  ensure_group();
  auto id = new_job_id();
  const auto now = now_text();
  (void)redis_.command({"HSET", job_key(id), "state", "queued", "request", request, "audio", audio,
                        "attempts", "0", "created", now, "updated", now});
  (void)redis_.command({"XADD", stream_, "*", "id", id});
  return id;
}

std::optional<JobStatus> JobStore::status(const std::string& id) {
  const auto reply = redis_.command({"HGETALL", job_key(id)});
  if (reply.size() == 0) return std::nullopt;
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < reply.size(); i += 2)
    fields[reply.element(i).text()] = reply.element(i + 1).text();
  JobStatus status;
  status.id = id;
  status.state = fields["state"];
  status.progress_done = to_double(fields["progress_done"]);
  status.progress_total = to_double(fields["progress_total"]);
  status.attempts = static_cast<int>(to_double(fields["attempts"]));
  status.error = fields["error"];
  status.result = fields["result"];
  status.request = fields["request"];
  status.created_at = to_double(fields["created"]);
  status.updated_at = to_double(fields["updated"]);
  return status;
}

bool JobStore::cancel(const std::string& id) {
  const auto ttl = std::to_string(config_.result_ttl.count());
  return redis_.command({"EVAL", kCancelScript, "1", job_key(id), now_text(), ttl}).integer() == 1;
}

std::optional<Lease> JobStore::start(const std::string& consumer, const std::string& entry_id,
                                     const std::string& job_id) {
  const auto max_attempts = std::to_string(config_.max_attempts);
  const auto state =
      redis_
          .command({"EVAL", kStartScript, "1", job_key(job_id), consumer, now_text(), max_attempts})
          .text();
  if (state != "running") {
    // Finished, cancelled, expired or out of attempts: the entry has nothing left to do.
    (void)redis_.command({"XACK", stream_, kGroup, entry_id});
    if (state != "gone") {
      (void)redis_.command({"EXPIRE", job_key(job_id), std::to_string(config_.result_ttl.count())});
    }
    return std::nullopt;
  }
  const auto fields = redis_.command({"HMGET", job_key(job_id), "request", "audio", "attempts"});
  return Lease{job_id,
               entry_id,
               consumer,
               fields.element(0).text(),
               fields.element(1).text(),
               static_cast<int>(fields.element(2).integer())};
}

std::optional<Lease> JobStore::take(const std::string& consumer, std::chrono::milliseconds wait) {
  ensure_group();
  // First, entries whose worker stopped renewing them: it died holding the job.
  const auto idle = std::to_string(config_.visibility_timeout.count());
  const auto claimed =
      redis_.command({"XAUTOCLAIM", stream_, kGroup, consumer, idle, "0-0", "COUNT", "1"});
  if (claimed.size() >= 2 && claimed.element(1).size() > 0) {
    const auto entry = claimed.element(1).element(0);
    if (entry.size() >= 2 && entry.element(1).size() >= 2) {
      auto lease = start(consumer, entry.element(0).text(), entry.element(1).element(1).text());
      if (lease) return lease;
    }
  }
  const auto block = std::to_string(wait.count());
  const auto reply = redis_.command({"XREADGROUP", "GROUP", kGroup, consumer, "COUNT", "1", "BLOCK",
                                     block, "STREAMS", stream_, ">"});
  if (reply.is_nil() || reply.size() == 0) return std::nullopt;
  const auto entries = reply.element(0).element(1);
  if (entries.size() == 0) return std::nullopt;
  const auto entry = entries.element(0);
  return start(consumer, entry.element(0).text(), entry.element(1).element(1).text());
}

ClaimState JobStore::renew(const Lease& lease) {
  // Claiming our own entry again resets its idle time, which keeps other workers off it.
  const auto reclaimed =
      redis_.command({"XCLAIM", stream_, kGroup, lease.consumer, "0", lease.entry_id, "JUSTID"});
  const auto fields = redis_.command({"HMGET", job_key(lease.job_id), "state", "owner"});
  const auto state = fields.element(0).text();
  if (state == "cancelled") return ClaimState::kCancelled;
  if (reclaimed.size() == 0 || state != "running" || fields.element(1).text() != lease.consumer) {
    return ClaimState::kLost;
  }
  return ClaimState::kOwned;
}

void JobStore::report_progress(const Lease& lease, double done, double total) {
  (void)redis_.command({"HSET", job_key(lease.job_id), "progress_done", std::to_string(done),
                        "progress_total", std::to_string(total), "updated", now_text()});
}

bool JobStore::complete(const Lease& lease, std::string_view result) {
  const auto ttl = std::to_string(config_.result_ttl.count());
  return redis_
             .command({"EVAL", kCompleteScript, "2", job_key(lease.job_id), stream_, lease.consumer,
                       result, now_text(), ttl, lease.entry_id})
             .integer() == 1;
}

void JobStore::fail(const Lease& lease, std::string_view error, bool retryable) {
  const auto ttl = std::to_string(config_.result_ttl.count());
  const auto max_attempts = std::to_string(config_.max_attempts);
  (void)redis_.command({"EVAL", kFailScript, "2", job_key(lease.job_id), stream_, lease.consumer,
                        error, now_text(), ttl, lease.entry_id, max_attempts, retryable ? "1" : "0",
                        lease.job_id});
}

}  // namespace amanuensis::jobs
