// The steps every transcription endpoint takes, shared by the OpenAI routes and the legacy
// /transcribe: read the upload (bounded), queue the work (or 429), then wait for it under the
// request's deadline while watching the client, or stream its segments as server-sent events.
// Speech detection (/v1/audio/speech/timestamps) takes the same steps with its own job.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "amanuensis/amanuensis.h"
#include "service/audio_job.h"
#include "service/form_options.h"
#include "service/http_types.h"
#include "service/multipart.h"
#include "service/service_context.h"
#include "service/transcription_job.h"

namespace amanuensis::service {

// Counts a transcription request as in flight for as long as it (or its stream) lives.
class InFlight {
 public:
  explicit InFlight(ServiceContext& context) : context_(context) { context_.request_started(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  ~InFlight() { context_.request_finished(); }

 private:
  ServiceContext& context_;
};

// Takes the request's body (the HTTP layer has read it whole, refusing with 413 more than
// --max-upload-mb as soon as Content-Length declared it or a chunked body passed it): 400 when
// the request has none.
std::shared_ptr<std::string> read_body(ServiceContext& context, Request& request);

// A multipart/form-data request, read as read_body reads it and split into its parts, which
// point into `body`.
struct UploadedForm {
  std::shared_ptr<std::string> body;
  std::vector<FormPart> parts;
};
UploadedForm read_form(ServiceContext& context, Request& request);

// Queues `job`: 503 while draining, 429 with Retry-After when the queue is full.
void enqueue(ServiceContext& context, const std::shared_ptr<AudioJob>& job);

// Queues the transcription of `request.file` (which points into `upload`): 501 when it needs the
// VAD and the server has none, else as enqueue.
std::shared_ptr<TranscriptionJob> submit(ServiceContext& context, const ModelLease& model,
                                         std::shared_ptr<const std::string> upload,
                                         const TranscriptionRequest& request);

// Waits for `job` to finish. Throws ApiError: 400 for undecodable audio (naming `file_name`) or a
// rejected option, 504 past --request-timeout, 499 when the client went away (both cancel the
// work).
void await_job(ServiceContext& context, AudioJob& job, const std::string& file_name);

// The body `request.response_format` asks for: a JSON object for json and verbose_json, a JSON
// string holding the document for text, srt and vtt. Shared by the synchronous endpoints and
// batch-job results.
nlohmann::json render_transcription(const TranscriptionRequest& request,
                                    const Transcription& transcription);

struct Completed {
  Transcription transcription;
  double audio_seconds = 0.0;
  double processing_seconds = 0.0;  // a worker's time: decoding and transcribing
  double queue_seconds = 0.0;
};

// Waits for `job` as await_job does, and records the transcription in the metrics.
Completed wait_for_completion(ServiceContext& context, const std::shared_ptr<TranscriptionJob>& job,
                              const TranscriptionRequest& request);

// Answers with server-sent events, one `transcript.text.delta` per segment as it is decoded,
// then `transcript.text.done` (or an `error` event). Errors found before the first byte (bad
// audio) are still thrown as ApiError, so they get a proper status.
void respond_with_events(ServiceContext& context, Response& response,
                         const std::shared_ptr<TranscriptionJob>& job,
                         const TranscriptionRequest& request, std::shared_ptr<InFlight> in_flight);

}  // namespace amanuensis::service
