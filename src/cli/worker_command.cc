// amanuensis worker: runs batch jobs from Redis without serving HTTP (see docs/deployment.md).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "service/job_worker.h"
#include "service/model_registry.h"

namespace amanuensis::cli {

namespace {

struct WorkerArguments {
  std::vector<std::filesystem::path> model_paths;
  std::filesystem::path models_dir;
  std::string default_model;
  double model_ttl_seconds = -1;
  std::string redis_url = "redis://127.0.0.1:6379";
  int workers = 1;
  int threads = 0;
  std::string compute_type = "default";
  jobs::JobStoreConfig store;
  int visibility_seconds = 30;
};

int run(const WorkerArguments& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the workers inherit the mask; we wait below

  // The models jobs may name, as `serve` offers them: a job runs on the model it was submitted
  // for (resolved by the server that took it), loaded on first use; one this worker lacks fails
  // the job with OpenAI's model_not_found message.
  service::ModelRegistry models(
      service::find_models(args.model_paths, args.models_dir, args.default_model),
      [&args](const service::ModelSource& source) {
        return Model::load(
            {.path = source.path, .threads = args.threads, .compute_type = args.compute_type});
      },
      std::chrono::duration<double>(args.model_ttl_seconds));
  static_cast<void>(models.acquire(models.default_name()));  // a broken default fails here
  const service::JobModels job_models = [&models](const std::string& name) {
    return models.acquire(models.resolve(name));
  };
  service::JobWorkerConfig config;
  config.redis = jobs::parse_redis_url(args.redis_url);
  config.store = args.store;
  config.store.visibility_timeout = std::chrono::seconds(args.visibility_seconds);
  std::vector<std::jthread> workers;
  for (int i = 0; i < args.workers; ++i) {
    auto worker_config = config;
    worker_config.consumer = service::job_consumer_name(i);
    workers.emplace_back([worker_config, &job_models](const std::stop_token& stop) {
      service::run_job_worker(worker_config, job_models, stop);
    });
  }
  std::string names;
  for (const auto& model : models.list()) names += (names.empty() ? "" : ", ") + model.name;
  std::fprintf(stderr, "amanuensis worker: %d worker(s) on %s; models %s (default %s)\n",
               args.workers, args.redis_url.c_str(), names.c_str(), models.default_name().c_str());
  int received = 0;
  sigwait(&signals, &received);
  std::fprintf(stderr, "amanuensis worker: stopping after the jobs in progress\n");
  for (auto& worker : workers) worker.request_stop();
  return 0;
}

}  // namespace

void add_job_store_options(CLI::App& command, jobs::JobStoreConfig& store,
                           int& visibility_seconds) {
  command.add_option("--max-attempts", store.max_attempts, "Tries before a job is marked failed")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  command
      .add_option("--visibility-timeout", visibility_seconds,
                  "Seconds without renewal after which another worker takes a job over")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      .add_option_function<long>(
          "--job-ttl", [&store](long seconds) { store.result_ttl = std::chrono::seconds(seconds); },
          "Seconds a finished job's result is kept (default: one day)")
      ->check(CLI::Range(1L, 365L * 86400L));
}

CommandAction add_worker_command(CLI::App& app) {
  auto args = std::make_shared<WorkerArguments>();
  auto* command = app.add_subcommand("worker", "Run batch jobs from Redis (no HTTP)");
  add_model_catalog_options(*command, args->model_paths, args->models_dir, args->default_model,
                            args->model_ttl_seconds);
  command->add_option("--redis", args->redis_url, "Redis URL (redis://host:port/db)")
      ->capture_default_str();
  command->add_option("--workers", args->workers, "Jobs run at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command->add_option("--threads", args->threads, "Compute threads per job (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--compute-type", args->compute_type, "Weight precision")
      ->capture_default_str();
  add_job_store_options(*command, args->store, args->visibility_seconds);
  return [args] {
    if (args->model_paths.empty() && args->models_dir.empty()) {
      throw Error("worker needs a model: --model PATH (repeatable) or --models-dir DIR");
    }
    return run(*args);
  };
}

}  // namespace amanuensis::cli
