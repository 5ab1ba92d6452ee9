// The models the server offers and their state: GET /v1/models (OpenAI's list, with each model's
// state), GET /v1/models/{id}, POST /v1/models/{id}/load and DELETE /v1/models/{id} (unload).
#include <nlohmann/json.hpp>

#include "service/form_options.h"
#include "service/responses.h"
#include "service/routes.h"

namespace amanuensis::service {

namespace {

nlohmann::json openai_entry(const std::string& id, std::int64_t created) {
  return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "amanuensis"}};
}

// `whisper-1`, the name OpenAI clients send: the default model under another name.
nlohmann::json alias_entry(const ServiceContext& context) {
  auto entry = openai_entry(std::string(kOpenAiModelAlias), context.started_unix_seconds());
  const auto& models = context.models();
  if (models.empty()) return entry;
  const auto status = models.status(models.default_name());
  entry["alias_of"] = status.name;
  entry["state"] = model_state_name(status.state);
  return entry;
}

// An id as the API names it: a model's name, or an OpenAI name for the default one.
std::string model_id(const ServiceContext& context, const Request& request) {
  return context.models().resolve(std::string(request.matches[1]));
}

void list_models(const ServiceContext& context, Response& response) {
  nlohmann::json data = nlohmann::json::array();
  data.push_back(alias_entry(context));
  for (const auto& status : context.models().list()) data.push_back(model_json(context, status));
  send_json(response, 200, {{"object", "list"}, {"data", data}});
}

void show_model(const ServiceContext& context, const Request& request, Response& response) {
  const std::string id = request.matches[1];
  if (id == kOpenAiModelAlias) {
    send_json(response, 200, alias_entry(context));
    return;
  }
  send_json(response, 200, model_json(context, context.models().status(id)));
}

}  // namespace

nlohmann::json model_json(const ServiceContext& context, const ModelStatus& status) {
  auto entry = openai_entry(status.name, context.started_unix_seconds());
  entry["state"] = model_state_name(status.state);
  entry["default"] = status.is_default;
  entry["in_use"] = status.in_use;
  entry["path"] = status.path.string();
  if (status.summary) {
    entry["size_bytes"] = status.summary->size_bytes;
    entry["multilingual"] = status.summary->info.multilingual;
  }
  if (!status.load_error.empty()) entry["load_error"] = status.load_error;
  return entry;
}

void add_model_routes(HttpServer& server, ServiceContext& context) {
  server.on_get("/v1/models", [&context](const Request&, Response& response) {
    guarded(response, [&] { list_models(context, response); });
  });
  server.on_get(R"(/v1/models/(.+))", [&context](const Request& request, Response& response) {
    guarded(response, [&] { show_model(context, request, response); });
  });
  server.on_post(R"(/v1/models/(.+)/load)", [&context](Request& request, Response& response) {
    guarded(response, [&] {
      if (context.draining()) throw unavailable("the server is shutting down");
      const auto status = context.models().load(model_id(context, request));
      send_json(response, 200, model_json(context, status));
    });
  });
  server.on_delete(R"(/v1/models/(.+))", [&context](const Request& request, Response& response) {
    guarded(response, [&] {
      const auto status = context.models().unload(model_id(context, request));
      send_json(response, 200, model_json(context, status));
    });
  });
}

}  // namespace amanuensis::service
