// GET /health, /status and /metrics: what orchestrators, operators and Prometheus ask.
#include <nlohmann/json.hpp>

#include "service/process_stats.h"
#include "service/responses.h"
#include "service/routes.h"
#include "service/vad_fields.h"

#ifndef AMANUENSIS_VERSION
#define AMANUENSIS_VERSION "unknown"
#endif

namespace amanuensis::service {

namespace {

std::string state_of(const ServiceContext& context) {
  if (context.draining()) return "draining";
  return context.ready() ? "ready" : "loading";
}

// The default model in detail (its summary is kept once it has loaded, even while unloaded).
nlohmann::json default_model_json(const ServiceContext& context) {
  const auto summary = context.model_summary();
  if (!summary) return nullptr;
  const auto& info = summary->info;
  return {{"name", summary->name},
          {"path", summary->path.string()},
          {"size_bytes", summary->size_bytes},
          {"compute_type", context.config().compute_type},
          {"multilingual", info.multilingual},
          {"n_mels", info.n_mels},
          {"n_vocab", info.n_vocab},
          {"n_audio_layers", info.n_audio_layers},
          {"n_text_layers", info.n_text_layers},
          {"n_state", info.n_state},
          {"n_heads", info.n_heads}};
}

nlohmann::json models_json(const ServiceContext& context) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& status : context.models().list()) models.push_back(model_json(context, status));
  return models;
}

// The backend the default model computes with, and every backend selection considered, in
// order, with why it was or was not chosen (and the chosen one's run-time record: failures, CPU
// retries); as of its last load when it is not loaded now.
nlohmann::json backend_json(const ServiceContext& context) {
  const auto summary = context.model_summary();
  if (!context.ready() || !summary) {
    return {{"mode", nullptr}, {"fallback_chain", nlohmann::json::array()}};
  }
  const auto& models = context.models();
  const auto resident = models.resident(models.default_name());
  const auto reports = resident ? resident->backend_reports() : summary->backends;
  std::string mode = "cpu";
  nlohmann::json chain = nlohmann::json::array();
  for (const auto& report : reports) {
    if (report.selected) mode = report.name;
    nlohmann::json details = nlohmann::json::object();
    for (const auto& [key, value] : report.details) details[key] = value;
    chain.push_back({{"backend", report.name},
                     {"available", report.available},
                     {"chosen", report.selected},
                     {"reason", report.reason},
                     {"details", details}});
  }
  return {{"mode", mode}, {"requested_device", context.config().device}, {"fallback_chain", chain}};
}

nlohmann::json device_json() {
  const auto cpu = read_cpu_info();
  const auto memory = read_memory_info();
  return {{"cpu",
           {{"model", cpu.model_name}, {"logical_cores", cpu.logical_cores}, {"simd", cpu.simd}}},
          {"memory",
           {{"total_bytes", memory.total_bytes}, {"available_bytes", memory.available_bytes}}}};
}

// The VAD (vad_filter, batch_size, chunking_strategy, /v1/audio/speech/timestamps): whether the
// start-up check loaded its model, and if not why.
nlohmann::json vad_json(const ServiceContext& context) {
  const auto problem = context.vad_problem();
  const bool available = context.ready() && problem.empty();
  return {{"model", kVadModelName},
          {"available", available},
          {"reason", available         ? "loaded"
                     : problem.empty() ? "the server is still loading"
                                       : problem}};
}

}  // namespace

void add_status_routes(HttpServer& server, ServiceContext& context) {
  // Liveness and readiness in one: 200 once the model is loaded, 503 while loading or draining,
  // so a load balancer sends work only where it will be taken.
  server.on_get("/health", [&context](const Request&, Response& response) {
    guarded(response, [&] {
      const auto state = state_of(context);
      nlohmann::json body = {{"status", state == "ready" ? "ok" : state}};
      if (const auto summary = context.model_summary()) body["model"] = summary->name;
      send_json(response, state == "ready" ? 200 : 503, body);
    });
  });

  server.on_get("/status", [&context](const Request&, Response& response) {
    guarded(response, [&] {
      const auto& config = context.config();
      const auto& pool = context.pool();
      const auto process = read_process_stats();
      send_json(response, 200,
                {{"version", AMANUENSIS_VERSION},
                 {"status", state_of(context)},
                 {"uptime_seconds", context.uptime_seconds()},
                 {"backend", backend_json(context)},
                 {"device", device_json()},
                 {"model", default_model_json(context)},
                 {"models", models_json(context)},
                 {"vad", vad_json(context)},
                 {"workers",
                  {{"count", pool.workers()},
                   {"busy", pool.busy()},
                   {"threads_per_worker", threads_per_worker(config)}}},
                 {"queue", {{"depth", pool.queued()}, {"max", pool.max_queue()}}},
                 {"requests_in_flight", context.in_flight()},
                 {"limits",
                  {{"max_upload_bytes", context.max_upload_bytes()},
                   {"request_timeout_seconds", config.request_timeout_seconds}}},
                 {"process",
                  {{"cpu_seconds", process.cpu_seconds},
                   {"resident_memory_bytes", process.resident_bytes},
                   {"threads", process.threads}}},
                 {"auth", !config.api_key.empty()}});
    });
  });

  server.on_get("/metrics", [&context](const Request&, Response& response) {
    guarded(response, [&] {
      response.set_content(context.registry().render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  });
}

}  // namespace amanuensis::service
