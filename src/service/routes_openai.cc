// The OpenAI audio API: POST /v1/audio/transcriptions and /v1/audio/translations
// (multipart/form-data in; json, text, srt, vtt, verbose_json or server-sent events out) and
// GET /v1/models.
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/transcript_formats.h"
#include "service/multipart.h"
#include "service/responses.h"
#include "service/routes.h"
#include "service/transcription_flow.h"

namespace amanuensis::service {

namespace {

constexpr const char* kTextType = "text/plain; charset=utf-8";

void render(Response& response, const TranscriptionRequest& request,
            const Transcription& transcription) {
  auto body = render_transcription(request, transcription);
  if (body.is_object()) {
    body["usage"] = {{"type", "duration"}, {"seconds", std::ceil(transcription.duration)}};
    send_json(response, 200, body);
    return;
  }
  switch (request.response_format) {
    case ResponseFormat::kText:
      response.set_content(body.get<std::string>() + "\n", kTextType);
      return;
    case ResponseFormat::kVtt:
      response.set_content(body.get<std::string>(), "text/vtt; charset=utf-8");
      return;
    default:
      response.set_content(body.get<std::string>(), kTextType);
      return;
  }
}

void transcribe(ServiceContext& context, Request& http_request, Response& response,
                const std::string& task) {
  auto in_flight = std::make_shared<InFlight>(context);
  const auto [body, parts] = read_form(context, http_request);
  const auto model = context.model();  // 503 while loading; the upload was still checked
  const auto request = parse_transcription_form(
      parts,
      {.task = task, .model_name = model.info().name, .multilingual = model.info().multilingual});
  const auto job = submit(context, model, body, request);
  if (request.stream) {
    respond_with_events(context, response, job, request, std::move(in_flight));
    return;
  }
  render(response, request, wait_for_completion(context, job, request).transcription);
}

nlohmann::json model_entry(const std::string& id, std::int64_t created) {
  return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "amanuensis"}};
}

}  // namespace

void add_openai_routes(HttpServer& server, ServiceContext& context) {
  for (const auto& [path, task] : {std::pair{"/v1/audio/transcriptions", "transcribe"},
                                   std::pair{"/v1/audio/translations", "translate"}}) {
    server.on_post(path,
                   [&context, task = std::string(task)](Request& request, Response& response) {
                     guarded(response, [&] { transcribe(context, request, response, task); });
                   });
  }

  server.on_get("/v1/models", [&context](const Request&, Response& response) {
    guarded(response, [&] {
      nlohmann::json data = nlohmann::json::array();
      data.push_back(model_entry(std::string(kOpenAiModelAlias), context.started_unix_seconds()));
      if (const auto summary = context.model_summary()) {
        data.push_back(model_entry(summary->name, context.started_unix_seconds()));
      }
      send_json(response, 200, {{"object", "list"}, {"data", data}});
    });
  });

  server.on_get(R"(/v1/models/(.+))", [&context](const Request& request, Response& response) {
    guarded(response, [&] {
      const std::string id = request.matches[1];
      const auto summary = context.model_summary();
      if (id != kOpenAiModelAlias && !(summary && id == summary->name)) {
        throw ApiError(404, "no model named '" + id + "' on this server", "invalid_request_error",
                       "model", "model_not_found");
      }
      send_json(response, 200, model_entry(id, context.started_unix_seconds()));
    });
  });
}

}  // namespace amanuensis::service
