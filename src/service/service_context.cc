#include "service/service_context.h"

#include <algorithm>
#include <cstdio>
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
          "Seconds of audio the VAD filter left out of transcriptions as non-speech")),
      model_requests(registry.counter("amanuensis_model_requests_total",
                                      "Requests and batch jobs that used a model, by model",
                                      {"model"})) {}

ServiceContext::ServiceContext(ServeConfig config)
    : config_(std::move(config)),
      started_unix_(std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()),
      metrics_(registry_),
      pool_(config_.workers, config_.max_queue),
      models_(
          find_models(config_.model_paths, config_.models_dir, config_.default_model),
          [this](const ModelSource& source) { return load_model(source); },
          std::chrono::duration<double>(config_.model_ttl_seconds)) {
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
  add_model_metrics();
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

void ServiceContext::require_vad() const {
  if (!ready_) throw unavailable("the server is still loading; retry shortly");
  if (!vad_problem_.empty()) {
    throw ApiError(501,
                   "this server cannot detect speech: " + vad_problem_ +
                       " (start it with AMANUENSIS_VAD_MODEL=/path/to/silero_vad_v6.onnx)",
                   "server_error", {}, "vad_unavailable");
  }
}

NamedModel ServiceContext::acquire_model(std::string_view requested) {
  if (!ready_) throw unavailable("the model is still loading; retry shortly");
  auto name = models_.resolve(requested);
  metrics_.model_requests.add({name});
  auto lease = models_.acquire(name);
  return {std::move(name), std::move(lease)};
}

std::optional<ModelSummary> ServiceContext::model_summary() const {
  if (models_.empty()) return std::nullopt;
  return models_.status(models_.default_name()).summary;
}

void ServiceContext::load_default_model() {
  models_.load(models_.default_name());
  ready_ = true;
}

Model ServiceContext::load_model(const ModelSource& source) const {
  const auto started = Clock::now();
  auto model = Model::load({.path = source.path,
                            .threads = threads_per_worker(config_),
                            .compute_type = config_.compute_type,
                            .device = config_.device,
                            .device_index = config_.device_index,
                            .decode_lanes = config_.decode_lanes});
  std::fprintf(stderr, "serve: model %s loaded on %s in %.2f s\n", source.name.c_str(),
               backend_mode(model).c_str(),
               std::chrono::duration<double>(Clock::now() - started).count());
  return model;
}

// Per-model state, and the decoder counters of all models together (those unloaded included).
void ServiceContext::add_model_metrics() {
  registry_.gauge("amanuensis_model_loaded", "1 while a model is loaded, by model", {"model"},
                  [this] {
                    std::vector<std::pair<LabelValues, double>> series;
                    for (const auto& model : models_.list()) {
                      series.emplace_back(LabelValues{model.name},
                                          model.state == ModelState::kLoaded ? 1.0 : 0.0);
                    }
                    return series;
                  });
  // Requests that transcribe at the same time share decoder steps, and these show how much
  // (rows / steps is the mean batch).
  const auto decoder = [this](std::int64_t Timings::*field) {
    return [this, field] { return static_cast<double>(models_.decoder_total(field)); };
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
