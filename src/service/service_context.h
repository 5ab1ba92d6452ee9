// What every route shares: the configuration, the models, the worker pool and the metrics. One
// instance lives for the whole `amanuensis serve` process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "jobs/job_store.h"
#include "service/metrics.h"
#include "service/model_registry.h"
#include "service/worker_pool.h"

namespace amanuensis::service {

struct ServeConfig {
  // The models (docs/service.md, "Several models"): --model (repeatable) and --models-dir; the
  // default is --default-model, else the first --model, else the folder's first name.
  std::vector<std::filesystem::path> model_paths;
  std::filesystem::path models_dir;
  std::string default_model;
  double model_ttl_seconds = -1.0;  // unused this long: unloaded; -1: never; 0: once unused
  std::string host = "127.0.0.1";
  int port = 8000;
  int workers = 2;
  int threads = 0;       // compute threads per transcription; 0: cores / workers, at least 1
  int decode_lanes = 0;  // ModelOptions::decode_lanes: 0 lets the model choose
  int max_queue = 16;
  double max_upload_mb = 25.0;             // OpenAI's limit
  std::string api_key;                     // empty: no authentication
  double request_timeout_seconds = 600.0;  // 0: none
  std::string compute_type = "default";
  std::string device = "auto";      // as ModelOptions::device: auto, cpu, cuda, opencl, npu
  std::optional<int> device_index;  // as ModelOptions::device_index; unset: the backend's choice
  bool access_log = true;
  // Batch jobs (/v1/jobs, docs/deployment.md): on when redis_url is set.
  std::string redis_url;
  int job_workers = 0;                             // job workers inside this process
  std::vector<std::filesystem::path> allow_paths;  // folders a job may name by `path`
  jobs::JobStoreConfig job_store;
  // Live transcription (/v1/realtime, docs/realtime.md).
  int max_live_sessions = 32;
  double live_idle_timeout_seconds =
      60.0;                                // no client event for this long ends a session; 0: never
  double max_live_buffer_seconds = 120.0;  // audio one session may hold undecoded
};

// Compute threads one transcription uses under `config`.
int threads_per_worker(const ServeConfig& config);

// The backend the model computes with ("cpu", "cuda", ...), as backend selection reported it.
std::string backend_mode(const Model& model);

// The metric families the handlers update.
struct ServiceMetrics {
  explicit ServiceMetrics(MetricsRegistry& registry);
  Counter& requests;             // by endpoint and status
  Histogram& latency;            // seconds, by endpoint
  Counter& audio_seconds;        // audio transcribed
  Histogram& real_time_factor;   // processing seconds / audio seconds
  Histogram& queue_wait;         // seconds a transcription waited for a worker
  Counter& cancelled;            // by reason: client_gone, timeout
  Counter& vad_removed_seconds;  // audio the VAD filter left out of transcriptions
  Counter& model_requests;       // requests and jobs that used a model, by model
};

class ServiceContext {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ServiceContext(ServeConfig config);
  ServiceContext(const ServiceContext&) = delete;
  ServiceContext& operator=(const ServiceContext&) = delete;

  [[nodiscard]] const ServeConfig& config() const { return config_; }
  [[nodiscard]] std::size_t max_upload_bytes() const;

  // The model a request's `model` field names (see ModelRegistry::resolve), loaded if need be
  // and held until the lease is dropped. Throws ApiError: 503 until start-up has loaded the
  // default model, 404 for an unknown name, 500 when the model fails to load.
  [[nodiscard]] NamedModel acquire_model(std::string_view requested);
  [[nodiscard]] ModelRegistry& models() { return models_; }
  [[nodiscard]] const ModelRegistry& models() const { return models_; }
  // The default model's summary, once it has loaded.
  [[nodiscard]] std::optional<ModelSummary> model_summary() const;
  // Start-up: loads the default model, then the server is ready.
  void load_default_model();
  [[nodiscard]] bool ready() const { return ready_; }

  // The VAD model, checked once at start-up before load_default_model: `problem` is empty when it
  // loads, else why it does not ($AMANUENSIS_VAD_MODEL unset and none built in, say).
  void set_vad_problem(std::string problem) { vad_problem_ = std::move(problem); }
  // Empty until load_default_model; then as set_vad_problem left it.
  [[nodiscard]] std::string vad_problem() const { return ready_ ? vad_problem_ : std::string(); }
  // For work that runs the VAD: 503 while the server is loading, 501 when it has no VAD model.
  void require_vad() const;

  // After SIGTERM: new work is refused, work in progress finishes.
  void begin_draining() { draining_ = true; }
  [[nodiscard]] bool draining() const { return draining_; }

  [[nodiscard]] WorkerPool& pool() { return pool_; }
  [[nodiscard]] const WorkerPool& pool() const { return pool_; }
  [[nodiscard]] MetricsRegistry& registry() { return registry_; }
  [[nodiscard]] ServiceMetrics& metrics() { return metrics_; }

  [[nodiscard]] double uptime_seconds() const;
  // Wall-clock start, for /v1/models' `created`.
  [[nodiscard]] std::int64_t started_unix_seconds() const { return started_unix_; }

  // The job store shared by the request threads (one Redis connection, used under a lock);
  // Redis being away is a 503.
  [[nodiscard]] bool jobs_enabled() const { return job_store_ != nullptr; }
  template <typename Action>
  auto with_job_store(Action&& action) {
    std::lock_guard lock(job_store_mutex_);
    try {
      return action(*job_store_);
    } catch (const jobs::RedisError& e) {
      throw_job_store_unavailable(e);
    }
  }

  // Transcription requests between arrival and response (running, queued or being read).
  void request_started() { ++in_flight_; }
  void request_finished() { --in_flight_; }
  [[nodiscard]] int in_flight() const { return in_flight_; }

 private:
  ServeConfig config_;
  Clock::time_point started_ = Clock::now();
  std::int64_t started_unix_;
  MetricsRegistry registry_;
  ServiceMetrics metrics_;
  WorkerPool pool_;
  ModelRegistry models_;
  std::string vad_problem_;  // written before ready_ is set, read after
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::mutex job_store_mutex_;
  std::unique_ptr<jobs::JobStore> job_store_;

  [[noreturn]] static void throw_job_store_unavailable(const jobs::RedisError& error);
  Model load_model(const ModelSource& source) const;
  void add_model_metrics();
};

}  // namespace amanuensis::service
