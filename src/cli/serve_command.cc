// amanuensis serve: the HTTP service (OpenAI-compatible API, status, metrics); see docs/service.md.
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "service/server.h"

namespace amanuensis::cli {

void add_model_catalog_options(CLI::App& command, std::vector<std::filesystem::path>& model_paths,
                               std::filesystem::path& models_dir, std::string& default_model,
                               double& model_ttl_seconds) {
  command
      .add_option("--model", model_paths,
                  "A Whisper model (CTranslate2 or Hugging Face folder, or ggml file); repeatable, "
                  "one model each, named after its folder or file; the first is the default")
      ->allow_extra_args(false);
  command.add_option("--models-dir", models_dir,
                     "A folder of models: each folder or file in it (hidden names aside) is one, "
                     "named after it; loaded on first use");
  command.add_option("--default-model", default_model,
                     "The model whisper-1 and requests or jobs naming none use (default: the first "
                     "--model, else the first name in --models-dir)");
  command
      .add_option("--model-ttl", model_ttl_seconds,
                  "Seconds a model may sit unused before it is unloaded (-1: never; 0: as soon as "
                  "nothing uses it); the next use loads it again")
      ->check(CLI::Range(-1.0, 1e9))
      ->capture_default_str();
}

namespace {

// Where to listen, how many transcriptions at once, and the limits on requests.
void add_server_options(CLI::App& command, service::ServeConfig& config) {
  command.add_option("--host", config.host, "Address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  command.add_option("--port", config.port, "Port to listen on (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command.add_option("--workers", config.workers, "Transcriptions run at once")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command
      .add_option("--threads", config.threads,
                  "Compute threads per transcription (default: cores / workers)")
      ->check(CLI::Range(1, 1024));
  command
      .add_option("--decode-lanes", config.decode_lanes,
                  "Transcriptions whose decoder steps run side by side; beyond them steps are "
                  "shared (default: 1 on a device, no limit on the CPU)")
      ->check(CLI::Range(1, 1024));
  command
      .add_option("--max-queue", config.max_queue,
                  "Transcriptions that may wait for a worker; beyond it: 429")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  command
      .add_option("--max-upload-mb", config.max_upload_mb,
                  "Largest upload accepted; beyond it: 413")
      ->check(CLI::Range(0.001, 4096.0))
      ->capture_default_str();
  command
      .add_option("--api-key", config.api_key,
                  "Require 'Authorization: Bearer KEY' (not on /health)")
      ->envname("AMANUENSIS_API_KEY");
  command
      .add_option("--request-timeout", config.request_timeout_seconds,
                  "Seconds a transcription may take, queue included; then 504 (0: none)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
}

// Live sessions (/v1/realtime).
void add_live_options(CLI::App& command, service::ServeConfig& config) {
  command
      .add_option("--max-live-sessions", config.max_live_sessions,
                  "Live sessions (/v1/realtime) at once; more are refused with 429")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  command
      .add_option("--live-idle-timeout", config.live_idle_timeout_seconds,
                  "Seconds without a client event that end a live session (0: never)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  command
      .add_option("--max-live-buffer-seconds", config.max_live_buffer_seconds,
                  "Audio seconds a live session may hold undecoded; appends beyond get an error")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
}

// The compute device and weight precision of every model.
void add_device_options(CLI::App& command, service::ServeConfig& config) {
  command
      .add_option("--device", config.device,
                  "Compute device: auto, cpu, cuda, opencl, npu (falls back to the CPU)")
      ->capture_default_str();
  command
      .add_option("--device-index", config.device_index,
                  "Which device of --device, from 0 (default: the backend's choice)")
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--compute-type", config.compute_type,
                  "Weight precision: default, float32, float16, int8, int8_float32")
      ->capture_default_str();
}

// Batch jobs in Redis (docs/deployment.md).
void add_job_options(CLI::App& command, service::ServeConfig& config) {
  command.add_option("--redis", config.redis_url,
                     "Redis URL (redis://host:port/db): enables /v1/jobs");
  command
      .add_option("--job-workers", config.job_workers,
                  "Batch-job workers in this process (with --redis)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  command
      .add_option("--allow-path", config.allow_paths,
                  "A folder whose files jobs may name by `path` (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace

CommandAction add_serve_command(CLI::App& app) {
  auto config = std::make_shared<service::ServeConfig>();
  auto* command = app.add_subcommand("serve", "Serve the OpenAI-compatible HTTP API");
  add_model_catalog_options(*command, config->model_paths, config->models_dir,
                            config->default_model, config->model_ttl_seconds);
  add_server_options(*command, *config);
  add_live_options(*command, *config);
  add_device_options(*command, *config);
  command->add_flag(
      "--no-access-log", [config](std::int64_t) { config->access_log = false; },
      "Do not log each request on standard error");
  add_job_options(*command, *config);
  auto visibility_seconds = std::make_shared<int>(30);
  add_job_store_options(*command, config->job_store, *visibility_seconds);
  return [config, visibility_seconds] {
    if (config->model_paths.empty() && config->models_dir.empty()) {
      throw Error("serve needs a model: --model DIR (repeatable) or --models-dir DIR");
    }
    config->job_store.visibility_timeout = std::chrono::seconds(*visibility_seconds);
    return service::run_server(*config);
  };
}

}  // namespace amanuensis::cli
