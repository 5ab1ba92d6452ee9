// The route table, one file per group of endpoints.
#pragma once

#include <nlohmann/json.hpp>

#include "service/http_server.h"
#include "service/live_sessions.h"
#include "service/service_context.h"

namespace amanuensis::service {

// API-key check, the access log and request metrics, 404/500 bodies in OpenAI's error shape.
void add_common_handlers(HttpServer& server, ServiceContext& context);
// GET /health, /status, /metrics.
void add_status_routes(HttpServer& server, ServiceContext& context);
// POST /v1/audio/transcriptions, /v1/audio/translations.
void add_openai_routes(HttpServer& server, ServiceContext& context);
// GET /v1/models[/{id}], POST /v1/models/{id}/load, DELETE /v1/models/{id}.
void add_model_routes(HttpServer& server, ServiceContext& context);
// One model as /v1/models and /status show it: OpenAI's fields, its state and what is known.
nlohmann::json model_json(const ServiceContext& context, const ModelStatus& status);
// POST /transcribe, for clients of the old service.
void add_legacy_routes(HttpServer& server, ServiceContext& context);
// POST /v1/audio/speech/timestamps: speech detection alone (speaches' API).
void add_vad_routes(HttpServer& server, ServiceContext& context);
// POST /v1/jobs, GET and DELETE /v1/jobs/{id}: batch jobs in Redis (when --redis is given).
void add_job_routes(HttpServer& server, ServiceContext& context);
// GET /v1/realtime (WebSocket): live transcription sessions; GET /: the web page.
void add_realtime_routes(HttpServer& server, LiveSessions& sessions);

// All of the above but the live sessions: what needs no realtime library (the HTTP fuzz target
// serves exactly these).
inline void add_request_routes(HttpServer& server, ServiceContext& context) {
  add_common_handlers(server, context);
  add_status_routes(server, context);
  add_openai_routes(server, context);
  add_model_routes(server, context);
  add_legacy_routes(server, context);
  add_vad_routes(server, context);
  add_job_routes(server, context);
}

// All of the above.
inline void add_routes(HttpServer& server, ServiceContext& context, LiveSessions& sessions) {
  add_request_routes(server, context);
  add_realtime_routes(server, sessions);
}

}  // namespace amanuensis::service
