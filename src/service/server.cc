#include "service/server.h"

#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "service/http_server.h"
#include "service/job_worker.h"
#include "service/routes.h"

namespace amanuensis::service {

namespace {

// Handler threads: every running and queued transcription holds one (waiting for its worker or
// streaming its events), and a few more keep /health and /metrics answering under full load.
// Connections themselves cost no thread until their request has arrived whole.
constexpr int kSpareConnections = 16;

// SIGTERM and SIGINT, blocked in every thread so that only our sigwait() sees them.
sigset_t termination_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

// Loads the VAD model once ($AMANUENSIS_VAD_MODEL, else the copy built in), so that a server
// without one says so at start-up, and answers requests that need it with 501. Empty: it loads.
std::string vad_problem() {
  try {
    static_cast<void>(speech_probabilities({}));
    return {};
  } catch (const Error& error) {
    return error.what();
  }
}

// Stops the listener when run_server leaves early (the model failed to load, say).
class ListenerGuard {
 public:
  ListenerGuard(HttpServer& server, std::thread& thread) : server_(server), thread_(thread) {}
  ListenerGuard(const ListenerGuard&) = delete;
  ListenerGuard& operator=(const ListenerGuard&) = delete;
  ~ListenerGuard() {
    server_.stop_accepting();
    if (thread_.joinable()) thread_.join();
  }

 private:
  HttpServer& server_;
  std::thread& thread_;
};

// Binds config.host:config.port (0: any free port); returns the port.
int bind(HttpServer& http, const ServeConfig& config) {
  int port = config.port;
  if (port == 0) {
    port = http.bind_to_any_port(config.host);
  } else if (!http.bind_to_port(config.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw Error("cannot listen on " + config.host + ":" + std::to_string(config.port) +
                " (address in use, or not an address of this machine)");
  }
  return port;
}

std::string model_names(const std::vector<ModelStatus>& models) {
  std::string names;
  for (const auto& model : models) names += (names.empty() ? "" : ", ") + model.name;
  return names;
}

// Batch-job workers (--job-workers): each takes jobs from Redis and runs them on the model each
// names, from the server's models.
std::vector<std::jthread> start_job_workers(ServiceContext& context) {
  std::vector<std::jthread> workers;
  if (!context.jobs_enabled()) return workers;
  const auto& config = context.config();
  JobWorkerConfig worker_config;
  worker_config.redis = jobs::parse_redis_url(config.redis_url);
  worker_config.store = config.job_store;
  for (int i = 0; i < config.job_workers; ++i) {
    worker_config.consumer = job_consumer_name(i);
    workers.emplace_back([worker_config, &context](const std::stop_token& stop) {
      run_job_worker(
          worker_config,
          [&context](const std::string& model) { return context.acquire_model(model).lease; },
          stop);
    });
  }
  return workers;
}

}  // namespace

int run_server(const ServeConfig& config) {
  const sigset_t signals = termination_signals();
  // Before any thread starts: threads inherit the mask.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill us mid-write

  ServiceContext context(config);
  LiveSessions live_sessions(context);  // outlives the server, whose WebSockets use it
  HttpServer http(static_cast<std::size_t>(config.workers + config.max_queue + kSpareConnections));
  add_routes(http, context, live_sessions);

  const int port = bind(http, config);
  std::fprintf(stderr,
               "serve: listening on http://%s:%d (%d workers x %d threads, queue %d, uploads up to "
               "%.0f MB%s)\n",
               config.host.c_str(), port, context.pool().workers(), threads_per_worker(config),
               config.max_queue, config.max_upload_mb,
               config.api_key.empty() ? "" : ", API key required");

  std::thread listener([&http] {
    http.listen_after_bind();
    // Returning before stop_accepting() means the listening socket failed: end the process the
    // same way a SIGTERM would.
    if (!http.stopping()) kill(getpid(), SIGTERM);
  });
  const ListenerGuard guard(http, listener);

  const auto load_started = std::chrono::steady_clock::now();
  const auto vad = vad_problem();
  if (!vad.empty()) {
    std::fprintf(stderr,
                 "serve: warning: %s; vad_filter, vad_parameters, chunking_strategy, batch_size, "
                 "/v1/audio/speech/timestamps and /v1/realtime will answer 501\n",
                 vad.c_str());
  }
  context.set_vad_problem(vad);
  context.load_default_model();
  const auto models = context.models().list();
  std::fprintf(
      stderr, "serve: ready in %.2f s; default model %s of %zu (%s)\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_started).count(),
      context.models().default_name().c_str(), models.size(), model_names(models).c_str());

  std::vector<std::jthread> job_workers = start_job_workers(context);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "serve: %s: no new connections; finishing %d requests in progress\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM", context.in_flight());
  context.begin_draining();
  http.stop_accepting();
  listener.join();  // returns once every connection is done
  for (auto& worker : job_workers) worker.request_stop();
  job_workers.clear();  // joins: the jobs in progress finish first
  context.pool().shutdown();
  std::fprintf(stderr, "serve: stopped\n");
  return 0;
}

}  // namespace amanuensis::service
