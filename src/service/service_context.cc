#include "service/service_context.h"

#include <algorithm>
#include <system_error>
#include <thread>
#include <utility>

#include "service/api_error.h"
#include "service/process_stats.h"

namespace amanuensis::service {

namespace {

// Request latency: a health check takes microseconds, a long upload minutes.
const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                             2.5,   5,    10,    30,   60,  120,  300, 600};
// Real-time factor (processing / audio): 0.01 is 100x faster than real time, 1 is real time.
const std::vector<double> kRealTimeFactorBuckets = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5,
                                                    0.75, 1,    1.5,  2,   5,   10};

std::uintmax_t folder_size(const std::filesystem::path& folder) {
  std::uintmax_t total = 0;
  std::error_code error;
  for (std::filesystem::directory_iterator it(folder, error), end; !error && it != end;
       it.increment(error)) {
    std::error_code size_error;
    // file_size follows symlinks: setup.sh links model files from the venv.
    const auto size = std::filesystem::file_size(it->path(), size_error);
    if (!size_error) total += size;
  }
  return total;
}

}  // namespace

int threads_per_worker(const ServeConfig& config) {
  if (config.threads > 0) return config.threads;
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, config.workers));
}

std::string backend_mode(const Model& model) {
  for (const auto& report : model.backend_reports()) {
    if (report.selected) return report.name;
  }
  return "cpu";  // selection always ends on the CPU
}

ServiceMetrics::ServiceMetrics(MetricsRegistry& registry)
    : requests(registry.counter("amanuensis_http_requests_total",
                                "HTTP requests answered, by endpoint and status code",
                                {"endpoint", "status"})),
      latency(registry.histogram("amanuensis_http_request_duration_seconds",
                                 "Time from request to the end of its response, by endpoint",
                                 kLatencyBuckets, {"endpoint"})),
      audio_seconds(
          registry.counter("amanuensis_audio_seconds_total", "Seconds of audio transcribed")),
      real_time_factor(registry.histogram(
          "amanuensis_real_time_factor",
          "Processing time divided by audio duration, per transcription (lower is faster)",
          kRealTimeFactorBuckets)),
      queue_wait(registry.histogram("amanuensis_queue_wait_seconds",
                                    "Time a transcription waited for a free worker",
                                    kLatencyBuckets)),
      cancelled(registry.counter("amanuensis_transcriptions_cancelled_total",
                                 "Transcriptions stopped before the end, by reason", {"reason"})),
      vad_removed_seconds(registry.counter(
          "amanuensis_vad_removed_seconds_total",
          "Seconds of audio the VAD filter left out of transcriptions as non-speech")) {}

ServiceContext::ServiceContext(ServeConfig config)
    : config_(std::move(config)),
      started_unix_(std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()),
      metrics_(registry_),
      pool_(config_.workers, config_.max_queue) {
  if (!config_.redis_url.empty()) {
    job_store_ = std::make_unique<jobs::JobStore>(jobs::parse_redis_url(config_.redis_url),
                                                  config_.job_store);
  }
  registry_.gauge("amanuensis_queue_depth", "Transcriptions waiting for a worker",
                  [this] { return pool_.queued(); });
  registry_.gauge("amanuensis_workers_busy", "Workers transcribing now",
                  [this] { return pool_.busy(); });
  registry_.gauge("amanuensis_workers", "Workers", [this] { return pool_.workers(); });
  registry_.gauge("amanuensis_requests_in_flight", "Transcription requests being served",
                  [this] { return in_flight_.load(); });
  registry_.gauge("amanuensis_model_loaded", "1 once the model is loaded",
                  [this] { return ready_ ? 1.0 : 0.0; });
  // The model's decoder counters; requests that transcribe at the same time share decoder steps,
  // and these show how much (rows / steps is the mean batch).
  const auto decoder = [this](std::int64_t Timings::*field) {
    return [this, field] {
      const std::lock_guard lock(model_mutex_);
      return model_ ? static_cast<double>(model_->timings().*field) : 0.0;
    };
  };
  registry_.sampled_counter("amanuensis_decode_steps_total",
                            "Decoder steps run; a step shared by several requests counts once",
                            decoder(&Timings::decoder_calls));
  registry_.sampled_counter("amanuensis_decode_rows_total",
                            "Token rows fed to the decoder, over all steps",
                            decoder(&Timings::decoded_tokens));
  registry_.sampled_counter("amanuensis_decode_batched_steps_total",
                            "Decoder steps shared by several concurrent requests",
                            decoder(&Timings::batched_calls));
  registry_.sampled_counter("amanuensis_decode_batch_rows_total",
                            "Token rows fed in decoder steps shared by several requests",
                            decoder(&Timings::batched_tokens));
  registry_.sampled_counter("process_cpu_seconds_total", "User and system CPU time of the process",
                            [] { return read_process_stats().cpu_seconds; });
  registry_.gauge("process_resident_memory_bytes", "Resident memory of the process",
                  [] { return read_process_stats().resident_bytes; });
  registry_.gauge("process_virtual_memory_bytes", "Virtual memory of the process",
                  [] { return read_process_stats().virtual_bytes; });
  registry_.gauge("process_open_fds", "Open file descriptors",
                  [] { return read_process_stats().open_fds; });
  registry_.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch",
                  [] { return read_process_stats().start_time_seconds; });
}

std::size_t ServiceContext::max_upload_bytes() const {
  return static_cast<std::size_t>(config_.max_upload_mb * 1024.0 * 1024.0);
}

Model ServiceContext::model() const {
  const std::lock_guard lock(model_mutex_);
  if (!model_) throw unavailable("the model is still loading; retry shortly");
  return *model_;
}

void ServiceContext::require_vad() const {
  if (!ready_) throw unavailable("the server is still loading; retry shortly");
  if (!vad_problem_.empty()) {
    throw ApiError(501,
                   "this server cannot detect speech: " + vad_problem_ +
                       " (start it with AMANUENSIS_VAD_MODEL=/path/to/silero_vad_v6.onnx)",
                   "server_error", {}, "vad_unavailable");
  }
}

std::optional<ModelSummary> ServiceContext::model_summary() const {
  const std::lock_guard lock(model_mutex_);
  return summary_;
}

void ServiceContext::set_model(Model model) {
  ModelSummary summary{model.info().name, config_.model_path, folder_size(config_.model_path),
                       model.info()};
  {
    const std::lock_guard lock(model_mutex_);
    model_ = std::move(model);
    summary_ = std::move(summary);
  }
  ready_ = true;
}

double ServiceContext::uptime_seconds() const {
  return std::chrono::duration<double>(Clock::now() - started_).count();
}

}  // namespace amanuensis::service

namespace amanuensis::service {

void ServiceContext::throw_job_store_unavailable(const jobs::RedisError& error) {
  throw ApiError(503, std::string("the job store is unavailable: ") + error.what(), "server_error",
                 {}, "job_store_unavailable");
}

}  // namespace amanuensis::service
