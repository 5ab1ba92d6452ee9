// amanuensis worker: runs batch jobs from Redis without serving HTTP (see docs/deployment.md).
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "service/job_worker.h"

namespace amanuensis::cli {

namespace {

struct WorkerArguments {
  std::filesystem::path model;
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

  const auto model =
      Model::load({.path = args.model, .threads = args.threads, .compute_type = args.compute_type});
  service::JobWorkerConfig config;
  config.redis = jobs::parse_redis_url(args.redis_url);
  config.store = args.store;
  config.store.visibility_timeout = std::chrono::seconds(args.visibility_seconds);
  std::vector<std::jthread> workers;
  for (int i = 0; i < args.workers; ++i) {
    auto worker_config = config;
    worker_config.consumer = service::job_consumer_name(i);
    // One model here: every job runs on it, whichever model it names.
    workers.emplace_back([worker_config, &model](const std::stop_token& stop) {
      service::run_job_worker(
          worker_config,
          [&model](const std::string&) { return std::make_shared<const Model>(model); }, stop);
    });
  }
  std::fprintf(stderr, "amanuensis worker: %d worker(s) on %s\n", args.workers,
               args.redis_url.c_str());
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
  command->add_option("--model", args->model, "CTranslate2 Whisper model folder")->required();
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
  return [args] { return run(*args); };
}

}  // namespace amanuensis::cli
