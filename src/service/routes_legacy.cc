// POST /transcribe: the same engine for clients of the old service. It takes a multipart upload
// (field `file` or `audio`, options as form fields) or the raw audio as the body (options in the
// query string), and answers one JSON object with the text, timed segments, language, duration,
// processing time, real-time factor and mode.
#include <nlohmann/json.hpp>

#include "formats/transcript_formats.h"
#include "service/multipart.h"
#include "service/responses.h"
#include "service/routes.h"
#include "service/transcription_flow.h"

namespace amanuensis::service {

namespace {

nlohmann::json legacy_json(const Completed& done, const std::string& model_name,
                           const std::string& mode) {
  const auto& t = done.transcription;
  nlohmann::json segments = nlohmann::json::array();
  for (const auto& s : t.segments) {
    segments.push_back({{"id", s.id},
                        {"start", formats::rounded_seconds(s.start)},
                        {"end", formats::rounded_seconds(s.end)},
                        {"text", s.text}});
  }
  return {
      {"text", formats::full_text(t)},
      {"segments", segments},
      {"language", t.language},
      {"language_probability", t.language_probability},
      {"duration", formats::rounded_seconds(t.duration)},
      {"duration_after_vad", formats::rounded_seconds(t.duration_after_vad)},
      {"processing_time", formats::rounded_seconds(done.processing_seconds)},
      {"queue_time", formats::rounded_seconds(done.queue_seconds)},
      // Processing seconds per second of audio: below 1 is faster than real time.
      {"real_time_factor",
       t.duration > 0 ? std::round(done.processing_seconds / t.duration * 10000.0) / 10000.0 : 0.0},
      {"mode", mode},
      {"model", model_name}};
}

void transcribe(ServiceContext& context, Request& http_request, Response& response) {
  const InFlight in_flight(context);
  auto& connection = *HttpServer::current_connection();
  const bool multipart = is_multipart_form_data(connection.content_type());
  const auto boundary = multipart ? multipart_boundary(connection.content_type()) : std::string();
  const auto body = read_body(context, http_request);

  std::vector<FormPart> parts;
  if (multipart) {
    parts = parse_multipart(*body, boundary);
  } else {
    // The body is the audio; the query string carries the options.
    for (const auto& [name, value] : http_request.params)
      parts.push_back({name, false, {}, {}, value});
    parts.push_back({"file", true, {}, connection.content_type(), *body});
  }
  const auto model = context.acquire_model(model_field(parts));
  const auto request =
      parse_transcription_form(parts, {.task = "transcribe",
                                       .task_field_allowed = true,
                                       .file_fields = {"file", "audio"},
                                       .model_name = model.name,
                                       .multilingual = model->info().multilingual});
  if (request.stream) {
    throw bad_request(
        "/transcribe does not stream; use POST /v1/audio/transcriptions with stream=true",
        "stream");
  }
  const auto job = submit(context, model.lease, body, request);
  send_json(
      response, 200,
      legacy_json(wait_for_completion(context, job, request), model.name, backend_mode(*model)));
}

}  // namespace

void add_legacy_routes(HttpServer& server, ServiceContext& context) {
  server.on_post("/transcribe", [&context](Request& request, Response& response) {
    guarded(response, [&] { transcribe(context, request, response); });
  });
}

}  // namespace amanuensis::service
