#include "service/transcription_flow.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "formats/transcript_formats.h"
#include "service/api_error.h"
#include "service/http_server.h"
#include "service/responses.h"

namespace amanuensis::service {

namespace {

using Clock = std::chrono::steady_clock;

// Not a real HTTP status: nginx's code for "the client closed the connection", which is what
// metrics and the access log record when nobody is left to read the response.
constexpr int kClientClosedRequest = 499;

Connection& connection() {
  auto* current = HttpServer::current_connection();
  if (current == nullptr) throw internal_error("request handled outside a connection");
  return *current;
}

Clock::time_point deadline_of(const ServiceContext& context) {
  const double timeout = context.config().request_timeout_seconds;
  if (timeout <= 0) return Clock::time_point::max();
  return connection().request_started() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
}

// Stops work nobody waits for: a queued job leaves the queue, a running one ends at its next
// 30-second window.
void abandon(ServiceContext& context, AudioJob& job, const std::string& reason) {
  job.cancel();
  context.pool().withdraw(job);
  context.metrics().cancelled.add({reason});
}

ApiError timeout_error(const ServiceContext& context) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", context.config().request_timeout_seconds);
  return timed_out(std::string("the transcription did not finish within the request timeout of ") +
                   seconds + " s (--request-timeout)");
}

ApiError client_gone() {
  return {kClientClosedRequest, "the client closed the connection", "client_closed_request"};
}

// What a finished job's exception means for the client.
ApiError job_error(const AudioJob& job, const std::string& file_name) {
  try {
    std::rethrow_exception(job.error());
  } catch (const Cancelled&) {
    return client_gone();  // only the request thread cancels, and it has already answered
  } catch (const Error& error) {
    if (job.failed_in_decoding()) {
      const std::string name = file_name.empty() ? "" : " '" + file_name + "'";
      return bad_request(
          "the uploaded file" + name + " is not audio we can decode: " + error.what(), "file",
          "invalid_audio");
    }
    return bad_request(error.what());
  } catch (const std::exception& error) {
    return internal_error(std::string("transcription failed: ") + error.what());
  } catch (...) {
    return internal_error("transcription failed");
  }
}

// Whether the engine will run the VAD for these options (as Model::transcribe decides): batched
// mode unless turned off, sequential mode when asked; never over clip_timestamps.
bool uses_vad(const TranscribeOptions& options) {
  if (!options.clip_timestamps.empty()) return false;
  return options.vad_filter.value_or(options.batch_size > 0);
}

void record_success(ServiceContext& context, const TranscriptionJob& job) {
  auto& metrics = context.metrics();
  metrics.audio_seconds.add({}, job.audio_seconds());
  if (const auto& result = job.result(); result && result->duration_after_vad < result->duration) {
    metrics.vad_removed_seconds.add({}, result->duration - result->duration_after_vad);
  }
  metrics.queue_wait.observe(job.queue_seconds());
  if (job.audio_seconds() > 0) {
    metrics.real_time_factor.observe(job.processing_seconds() / job.audio_seconds());
  }
}

std::string event(const nlohmann::json& data) {
  return "data: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

// OpenAI clients raise an APIError for an event whose data has an "error" object.
std::string error_event(const ApiError& error) {
  return event({{"type", "error"}, {"error", error.error_json()}});
}

// Server-sent events for one streamed transcription; lives as long as the response.
struct EventStream {
  ServiceContext& context;
  std::shared_ptr<TranscriptionJob> job;
  std::shared_ptr<InFlight> in_flight;
  std::string file_name;
  Clock::time_point deadline;
  bool logprobs = false;  // include[]=logprobs
  std::size_t sent = 0;
  bool finished = false;

  // One call of the content provider: waits for news, writes it. False aborts.
  bool pump(DataSink& sink) {
    const auto news = [&] {
      return job->segment_count() > sent || job->phase() == AudioJob::Phase::kDone;
    };
    const auto waited = job->wait(news, deadline, [&] { return !sink.is_writable(); });
    if (waited == AudioJob::Wait::kInterrupted) {
      abandon(context, *job, "client_gone");
      finished = true;
      return false;
    }
    if (waited == AudioJob::Wait::kDeadline) {
      abandon(context, *job, "timeout");
      return finish(sink, error_event(timeout_error(context)));
    }
    // Read before the segments: a job that is done has published all of them.
    const bool done = job->current_phase() == AudioJob::Phase::kDone;
    std::string out;
    for (const auto& segment : job->segments_from(sent)) {
      // Deltas concatenate to the final text, which has no leading space.
      std::string delta = segment.text;
      if (sent == 0) delta.erase(0, std::min(delta.find_first_not_of(' '), delta.size()));
      nlohmann::json delta_event = {{"type", "transcript.text.delta"},
                                    {"delta", delta},
                                    {"segment_id", std::to_string(segment.id)},
                                    {"start", formats::rounded_seconds(segment.start)},
                                    {"end", formats::rounded_seconds(segment.end)}};
      if (logprobs) delta_event["logprobs"] = formats::logprobs_json(segment.logprobs);
      out += event(delta_event);
      ++sent;
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      abandon(context, *job, "client_gone");
      finished = true;
      return false;
    }
    if (!done) return true;
    if (!job->result()) return finish(sink, error_event(job_error(*job, file_name)));
    record_success(context, *job);
    const auto& transcription = *job->result();
    nlohmann::json done_event = {{"type", "transcript.text.done"},
                                 {"text", formats::full_text(transcription)},
                                 {"language", transcription.language},
                                 {"duration", formats::rounded_seconds(transcription.duration)}};
    if (logprobs) {
      done_event["logprobs"] =
          formats::transcription_logprobs(transcription).value_or(nlohmann::json::array());
    }
    return finish(sink, event(done_event));
  }

  bool finish(DataSink& sink, const std::string& last_event) {
    finished = true;
    if (!sink.write(last_event.data(), last_event.size())) return false;
    sink.done();
    return true;
  }
};

}  // namespace

std::shared_ptr<std::string> read_body(ServiceContext& context, Request& request) {
  const std::size_t limit = context.max_upload_bytes();
  const auto declared = declared_length(request);
  // The HTTP layer refuses these before the handler runs; checked again so that no route relies
  // on how it was configured.
  if ((declared && *declared > limit) || request.body.size() > limit) {
    connection().close_after_response();
    throw upload_too_large(limit, declared ? std::to_string(*declared) + " bytes"
                                           : "more than " + std::to_string(limit) + " bytes");
  }
  // Neither Content-Length nor Transfer-Encoding means no body (RFC 9112 6.3).
  if (!request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) {
    throw bad_request("the request has no body: send the audio as multipart/form-data", "file");
  }
  return std::make_shared<std::string>(std::move(request.body));
}

UploadedForm read_form(ServiceContext& context, Request& request) {
  auto& client = connection();
  const auto boundary = multipart_boundary(client.content_type());
  auto body = read_body(context, request);
  auto parts = parse_multipart(*body, boundary);
  return {std::move(body), std::move(parts)};
}

void enqueue(ServiceContext& context, const std::shared_ptr<AudioJob>& job) {
  if (context.draining()) throw unavailable("the server is shutting down");
  if (!context.pool().try_submit(job)) {
    auto& pool = context.pool();
    // Long enough for the queue ahead to drain once, at the recent pace.
    const double wait =
        pool.mean_task_seconds() * (pool.queued() + pool.workers()) / std::max(1, pool.workers());
    throw too_many_requests("the server is busy: " + std::to_string(pool.queued()) +
                                " transcriptions are queued (--max-queue " +
                                std::to_string(pool.max_queue()) + "); retry later",
                            std::max(1, static_cast<int>(std::ceil(wait))));
  }
}

std::shared_ptr<TranscriptionJob> submit(ServiceContext& context, const ModelLease& model,
                                         std::shared_ptr<const std::string> upload,
                                         const TranscriptionRequest& request) {
  if (uses_vad(request.options)) context.require_vad();
  auto job =
      std::make_shared<TranscriptionJob>(model, std::move(upload), request.file, request.options);
  enqueue(context, job);
  return job;
}

void await_job(ServiceContext& context, AudioJob& job, const std::string& file_name) {
  auto& client = connection();
  const auto waited = job.wait([&] { return job.phase() == AudioJob::Phase::kDone; },
                               deadline_of(context), [&] { return client.peer_gone(); });
  if (waited == AudioJob::Wait::kDeadline) {
    abandon(context, job, "timeout");
    throw timeout_error(context);
  }
  if (waited == AudioJob::Wait::kInterrupted) {
    abandon(context, job, "client_gone");
    throw client_gone();
  }
  if (job.error()) throw job_error(job, file_name);
}

Completed wait_for_completion(ServiceContext& context, const std::shared_ptr<TranscriptionJob>& job,
                              const TranscriptionRequest& request) {
  await_job(context, *job, request.file_name);
  record_success(context, *job);
  return {*job->result(), job->audio_seconds(), job->processing_seconds(), job->queue_seconds()};
}

void respond_with_events(ServiceContext& context, Response& response,
                         const std::shared_ptr<TranscriptionJob>& job,
                         const TranscriptionRequest& request, std::shared_ptr<InFlight> in_flight) {
  // Wait until the audio is decoded, so that an undecodable upload still gets a 400.
  auto& client = connection();
  const auto deadline = deadline_of(context);
  const auto waited = job->wait([&] { return job->phase() >= AudioJob::Phase::kProcessing; },
                                deadline, [&] { return client.peer_gone(); });
  if (waited == AudioJob::Wait::kDeadline) {
    abandon(context, *job, "timeout");
    throw timeout_error(context);
  }
  if (waited == AudioJob::Wait::kInterrupted) {
    abandon(context, *job, "client_gone");
    throw client_gone();
  }
  if (job->current_phase() == AudioJob::Phase::kDone && !job->result()) {
    throw job_error(*job, request.file_name);
  }

  auto stream = std::make_shared<EventStream>(EventStream{
      context, job, std::move(in_flight), request.file_name, deadline, request.options.logprobs});
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");  // keep proxies from holding events back
  response.set_chunked_content_provider(
      "text/event-stream", [stream](DataSink& sink) { return stream->pump(sink); },
      [stream](bool /*success*/) {
        if (!stream->finished) abandon(stream->context, *stream->job, "client_gone");
      });
}

nlohmann::json render_transcription(const TranscriptionRequest& request,
                                    const Transcription& transcription) {
  // include[]=logprobs: every text token's, in order (an empty transcript has none).
  const auto with_logprobs = [&](nlohmann::json body) {
    if (request.options.logprobs) {
      body["logprobs"] =
          formats::transcription_logprobs(transcription).value_or(nlohmann::json::array());
    }
    return body;
  };
  switch (request.response_format) {
    case ResponseFormat::kJson:
      return with_logprobs({{"text", formats::full_text(transcription)}});
    case ResponseFormat::kVerboseJson:
      return with_logprobs(
          formats::verbose_json(transcription, {.task = request.options.task,
                                                .segments = request.include_segments,
                                                .words = request.include_words}));
    case ResponseFormat::kText:
      return formats::full_text(transcription);
    case ResponseFormat::kSrt:
    case ResponseFormat::kVtt: {
      std::ostringstream out;
      formats::write_transcript(out,
                                request.response_format == ResponseFormat::kVtt
                                    ? formats::OutputFormat::kVtt
                                    : formats::OutputFormat::kSrt,
                                transcription, request.file_name);
      return out.str();
    }
  }
  return nullptr;
}

}  // namespace amanuensis::service
