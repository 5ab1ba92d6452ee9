// Batch jobs: POST /v1/jobs queues a transcription in Redis and answers at once with its id;
// GET /v1/jobs/{id} reports its state, progress and, when done, the result in any response
// format; DELETE /v1/jobs/{id} cancels it. Workers of any instance run the jobs.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/transcript_formats.h"
#include "service/form_values.h"
#include "service/job_worker.h"
#include "service/multipart.h"
#include "service/responses.h"
#include "service/routes.h"
#include "service/transcription_flow.h"

namespace amanuensis::service {

namespace {

// A path the request names, checked against the operator's --allow-path folders: the resolved
// file (symbolic links and ".." followed) must lie inside one of them.
std::string allowed_path(const ServiceContext& context, const std::string& requested) {
  std::error_code error;
  const auto resolved = std::filesystem::weakly_canonical(requested, error);
  if (!error) {
    for (const auto& root : context.config().allow_paths) {
      const auto allowed_root = std::filesystem::weakly_canonical(root, error);
      if (error) continue;
      const auto relative = resolved.lexically_relative(allowed_root);
      if (!relative.empty() && *relative.begin() != ".." && relative.is_relative()) {
        if (!std::filesystem::is_regular_file(resolved)) {
          throw ApiError(400, "path '" + requested + "' is not a file", "invalid_request_error",
                         "path");
        }
        return resolved.string();
      }
    }
  }
  throw ApiError(
      403, "path '" + requested + "' is outside the folders this server may read (--allow-path)",
      "permission_error", "path", "path_not_allowed");
}

// What parse_job_form needs of the model to read back a finished job's options.
ModelInfo rendering_info(const JobRequest& job) {
  ModelInfo info;
  info.name = job.model;
  if (info.name.empty()) {  // a job from before jobs named their model
    for (const auto& [name, value] : job.fields) {
      if (name == "model") info.name = trim(value);
    }
  }
  info.multilingual = true;
  return info;
}

// The model a job was submitted for; empty for a job from before jobs named theirs.
std::string job_model(const jobs::JobStatus& status) {
  const auto request = nlohmann::json::parse(status.request, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) return {};
  const auto model = request.find("model");
  return model != request.end() && model->is_string() ? model->get<std::string>() : std::string();
}

nlohmann::json status_json(const jobs::JobStatus& status) {
  nlohmann::json json = {
      {"id", status.id},
      {"object", "transcription.job"},
      {"state", status.state},
      {"progress",
       {{"done_seconds", status.progress_done}, {"total_seconds", status.progress_total}}},
      {"attempts", status.attempts},
      {"model", job_model(status)},
      {"created_at", status.created_at},
      {"updated_at", status.updated_at}};
  if (!status.error.empty() && status.state != "done") json["error"] = status.error;
  return json;
}

void submit_job(ServiceContext& context, Request& http_request, Response& response) {
  const auto form = read_form(context, http_request);

  JobRequest job;
  std::string_view upload;
  for (const auto& part : form.parts) {
    if (part.name == "file" && part.has_filename) {
      upload = part.data;
      job.file_name = part.filename;
    } else if (part.name == "path") {
      job.path = allowed_path(context, std::string(part.data));
      job.file_name = std::filesystem::path(job.path).filename().string();
    } else if (part.name != "file") {
      job.fields.emplace_back(part.name, std::string(part.data));
    }
  }
  if (upload.empty() && job.path.empty()) {
    throw ApiError(400, "a job needs an uploaded `file` or a `path`", "invalid_request_error",
                   "file");
  }
  // The job runs on the model chosen now (404 for an unknown one), which checks the options, so
  // that a bad value is this request's 400 rather than a failed job.
  const auto model = context.acquire_model(model_field(form.parts));
  job.model = model.name;
  auto info = model->info();
  info.name = model.name;  // the name `model` may give
  (void)parse_job_form(job, upload, info);
  const auto id = context.with_job_store(
      [&](jobs::JobStore& store) { return store.submit(job.to_json().dump(), upload); });
  send_json(response, 202, {{"id", id}, {"object", "transcription.job"}, {"state", "queued"}});
}

void report_job(ServiceContext& context, const Request& request, Response& response) {
  const std::string id = request.matches[1];
  const auto status =
      context.with_job_store([&](jobs::JobStore& store) { return store.status(id); });
  if (!status) {
    throw ApiError(404, "no job '" + id + "' (unknown, or its result expired)",
                   "invalid_request_error", "id", "job_not_found");
  }
  auto json = status_json(*status);
  if (status->state == "done") {
    // The job's own options, with the response format this request asks for, if any.
    auto job = JobRequest::from_json(nlohmann::json::parse(status->request));
    if (request.has_param("response_format")) {
      std::erase_if(job.fields, [](const auto& f) { return f.first == "response_format"; });
      job.fields.emplace_back("response_format", request.get_param_value("response_format"));
    }
    // The upload is gone once the job is done; a placeholder stands in for its file part. The
    // options were checked against the model at submission: this reads them, loading nothing.
    const auto form = parse_job_form(job, "-", rendering_info(job));
    const auto transcription =
        formats::transcription_from_json(nlohmann::json::parse(status->result));
    json["result"] = render_transcription(form, transcription);
    json["response_format"] = response_format_name(form.response_format);
  }
  send_json(response, 200, json);
}

void cancel_job(ServiceContext& context, const Request& request, Response& response) {
  const std::string id = request.matches[1];
  const auto cancelled =
      context.with_job_store([&](jobs::JobStore& store) { return store.cancel(id); });
  const auto status =
      context.with_job_store([&](jobs::JobStore& store) { return store.status(id); });
  if (!status)
    throw ApiError(404, "no job '" + id + "'", "invalid_request_error", "id", "job_not_found");
  if (!cancelled) {
    throw ApiError(409, "job '" + id + "' already ended (" + status->state + ")",
                   "invalid_request_error", "id", "job_finished");
  }
  send_json(response, 200, status_json(*status));
}

}  // namespace

void add_job_routes(HttpServer& server, ServiceContext& context) {
  if (!context.jobs_enabled()) return;
  server.on_post("/v1/jobs", [&context](Request& request, Response& response) {
    guarded(response, [&] { submit_job(context, request, response); });
  });
  server.on_get(R"(/v1/jobs/([A-Za-z0-9_]+))",
                [&context](const Request& request, Response& response) {
                  guarded(response, [&] { report_job(context, request, response); });
                });
  server.on_delete(R"(/v1/jobs/([A-Za-z0-9_]+))",
                   [&context](const Request& request, Response& response) {
                     guarded(response, [&] { cancel_job(context, request, response); });
                   });
}

}  // namespace amanuensis::service
