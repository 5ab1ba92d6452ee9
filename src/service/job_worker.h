// Runs queued batch jobs (POST /v1/jobs) from Redis: `amanuensis worker`, or threads inside
// `amanuensis serve --redis URL`. Any worker of any instance may take any job.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "jobs/job_store.h"
#include "service/form_options.h"
#include "service/model_registry.h"

namespace amanuensis::service {

// What a job stores as its request: the form's text fields, the upload's name, and either the
// uploaded bytes (kept beside it) or a server-side path the operator allowed.
struct JobRequest {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string file_name;
  std::string path;   // empty for uploads
  std::string model;  // the model chosen at submission (resolved); empty: the worker's default

  [[nodiscard]] nlohmann::json to_json() const;
  static JobRequest from_json(const nlohmann::json& json);
};

// Checks a job's fields as the form parser checks an upload's, for `model`. `upload` is the
// uploaded audio (a path job has none: its path stands in as the file part, which the parser only
// needs to be present).
TranscriptionRequest parse_job_form(const JobRequest& job, std::string_view upload,
                                    const ModelInfo& model);

struct JobWorkerConfig {
  jobs::RedisAddress redis;
  jobs::JobStoreConfig store;
  std::string consumer;  // unique per worker: host, process and index
};

// A consumer name unique to this process and worker: host, process id and index. (Tests find a
// process's claims in Redis by its "-<pid>-" part.)
std::string job_consumer_name(int index);

// The model a job names (JobRequest::model), held while the job runs. Throws ApiError for one
// the worker cannot provide, which fails the job.
using JobModels = std::function<ModelLease(const std::string& model)>;

// Takes and runs jobs until `stop` is requested, each on the model it names. Survives Redis
// restarts (it reconnects) and reports the results, progress and failures in the job store.
void run_job_worker(const JobWorkerConfig& config, const JobModels& models,
                    const std::stop_token& stop);

}  // namespace amanuensis::service
