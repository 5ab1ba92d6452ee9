#include "service/job_worker.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "formats/transcript_formats.h"
#include "service/api_error.h"
#include "service/form_options.h"

namespace amanuensis::service {

namespace {

using namespace std::chrono_literals;

constexpr auto kTakeWait = 1000ms;
constexpr auto kRedisRetryDelay = 500ms;

// Keeps the claim on a job alive while it runs, on its own connection, and stops the work when
// the job is cancelled or the claim is lost to another worker.
class ClaimKeeper {
 public:
  ClaimKeeper(const JobWorkerConfig& config, const jobs::Lease& lease, std::stop_source& stop)
      : thread_([&config, lease, &stop, this](const std::stop_token& keeper_stop) {
          jobs::JobStore store(config.redis, config.store);
          const auto period = config.store.visibility_timeout / 3;
          while (true) {
            {
              std::unique_lock lock(mutex_);
              wake_.wait_for(lock, keeper_stop, period, [] { return false; });
            }
            if (keeper_stop.stop_requested()) break;
            try {
              if (store.renew(lease) != jobs::ClaimState::kOwned) {
                stop.request_stop();  // cancelled, or another worker holds the job now
                break;
              }
              const double done = progress_done_;
              const double total = progress_total_;
              if (total > 0) store.report_progress(lease, done, total);
            } catch (const jobs::RedisError&) {
              // Redis is away (restarting): keep working; the next renewal will reconnect.
            }
          }
        }) {}

  void progress(double done, double total) {
    progress_done_ = done;
    progress_total_ = total;
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::atomic<double> progress_done_{0.0};
  std::atomic<double> progress_total_{0.0};
  std::jthread thread_;  // last: it starts after the members it uses exist
};

void run_one(const JobWorkerConfig& config, const JobModels& models, jobs::JobStore& store,
             const jobs::Lease& lease) {
  std::stop_source stop;
  ClaimKeeper keeper(config, lease, stop);
  try {
    const auto request = JobRequest::from_json(nlohmann::json::parse(lease.request));
    const auto lease_on_model = models(request.model);
    const auto& model = *lease_on_model;
    auto info = model.info();
    if (!request.model.empty()) info.name = request.model;  // the name `model` may give
    const auto form = parse_job_form(request, lease.audio, info);
    const auto audio =
        request.path.empty()
            ? decode_audio_bytes(
                  {reinterpret_cast<const std::uint8_t*>(lease.audio.data()), lease.audio.size()})
            : decode_audio_file(request.path);
    if (stop.stop_requested()) throw Cancelled();
    const double total = static_cast<double>(audio.size()) / kSampleRate;
    keeper.progress(0.0, total);
    const auto transcription = model.transcribe(
        audio, form.options,
        [&](const Segment& s) { keeper.progress(std::min(s.end, total), total); },
        stop.get_token());
    store.report_progress(lease, total, total);
    store.complete(lease, formats::transcription_json(transcription).dump());
  } catch (const Cancelled&) {
    // Cancelled by DELETE, or the claim went to another worker: nothing to record.
  } catch (const ApiError& e) {
    store.fail(lease, e.what(), /*retryable=*/false);  // a bad request stays bad
  } catch (const Error& e) {
    store.fail(lease, e.what(), /*retryable=*/false);  // undecodable audio, a rejected option
  } catch (const nlohmann::json::exception& e) {
    store.fail(lease, std::string("corrupt job request: ") + e.what(), false);
  } catch (const std::exception& e) {
    store.fail(lease, e.what(), /*retryable=*/true);
  }
}

}  // namespace

nlohmann::json JobRequest::to_json() const {
  nlohmann::json json_fields = nlohmann::json::array();
  for (const auto& [name, value] : fields) json_fields.push_back({name, value});
  return {{"fields", json_fields}, {"file_name", file_name}, {"path", path}, {"model", model}};
}

JobRequest JobRequest::from_json(const nlohmann::json& json) {
  JobRequest request;
  for (const auto& field : json.at("fields")) {
    request.fields.emplace_back(field.at(0).get<std::string>(), field.at(1).get<std::string>());
  }
  request.file_name = json.value("file_name", "");
  request.path = json.value("path", "");
  request.model = json.value("model", "");
  return request;
}

TranscriptionRequest parse_job_form(const JobRequest& job, std::string_view upload,
                                    const ModelInfo& model) {
  std::vector<FormPart> parts;
  parts.reserve(job.fields.size() + 1);
  for (const auto& [name, value] : job.fields) parts.push_back({name, false, "", "", value});
  const std::string_view file = upload.empty() ? std::string_view(job.path) : upload;
  parts.push_back({"file", true, job.file_name, "application/octet-stream", file});
  return parse_transcription_form(parts, {.task = "transcribe",
                                          .task_field_allowed = true,
                                          .model_name = model.name,
                                          .multilingual = model.multilingual});
}

std::string job_consumer_name(int index) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + std::to_string(index);
}

void run_job_worker(const JobWorkerConfig& config, const JobModels& models,
                    const std::stop_token& stop) {
  jobs::JobStore store(config.redis, config.store);
  while (!stop.stop_requested()) {
    try {
      const auto lease = store.take(config.consumer, kTakeWait);
      if (lease) run_one(config, models, store, *lease);
    } catch (const jobs::RedisError& e) {
      std::fprintf(stderr, "worker %s: %s; retrying\n", config.consumer.c_str(), e.what());
      std::this_thread::sleep_for(kRedisRetryDelay);
    }
  }
}

}  // namespace amanuensis::service
