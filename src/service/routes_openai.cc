// The OpenAI audio API: POST /v1/audio/transcriptions and /v1/audio/translations
// (multipart/form-data in; json, text, srt, vtt, verbose_json or server-sent events out).
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
  // 503 while starting, 404 for an unknown model; the upload was still checked.
  const auto model = context.acquire_model(model_field(parts));
  const auto request = parse_transcription_form(
      parts, {.task = task, .model_name = model.name, .multilingual = model->info().multilingual});
  const auto job = submit(context, model.lease, body, request);
  if (request.stream) {
    respond_with_events(context, response, job, request, std::move(in_flight));
    return;
  }
  render(response, request, wait_for_completion(context, job, request).transcription);
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
}

}  // namespace amanuensis::service
