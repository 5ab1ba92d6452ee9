// POST /v1/audio/speech/timestamps: where an upload holds speech, as speaches answers it (a
// multipart form with `file`, optional `model` and VAD settings with speaches' defaults; a JSON
// list of {"start", "end"} in whole milliseconds). The VAD runs on a worker like a transcription,
// under the same upload limit, queue bound, deadline and error format.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "service/multipart.h"
#include "service/responses.h"
#include "service/routes.h"
#include "service/speech_timestamps_job.h"
#include "service/transcription_flow.h"
#include "service/vad_fields.h"

namespace amanuensis::service {

namespace {

constexpr std::int64_t kSamplesPerMillisecond = kSampleRate / 1000;

// speaches' to_ms_speech_timestamps: sample positions floored to milliseconds, start first.
nlohmann::ordered_json spans_json(const std::vector<SpeechSpan>& spans) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& span : spans) {
    out.push_back({{"start", span.start / kSamplesPerMillisecond},
                   {"end", span.end / kSamplesPerMillisecond}});
  }
  return out;
}

void detect(ServiceContext& context, Request& http_request, Response& response) {
  const InFlight in_flight(context);
  const auto [body, parts] = read_form(context, http_request);
  const auto request = parse_speech_timestamps_form(parts);
  context.require_vad();  // 503 while loading (the upload was still checked), 501 without a VAD
  const auto job = std::make_shared<SpeechTimestampsJob>(body, request.file, request.options);
  enqueue(context, job);
  await_job(context, *job, request.file_name);
  context.metrics().queue_wait.observe(job->queue_seconds());
  response.status = 200;
  response.set_content(spans_json(job->spans()).dump(), kJsonType);
}

}  // namespace

void add_vad_routes(HttpServer& server, ServiceContext& context) {
  server.on_post("/v1/audio/speech/timestamps", [&context](Request& request, Response& response) {
    guarded(response, [&] { detect(context, request, response); });
  });
}

}  // namespace amanuensis::service
