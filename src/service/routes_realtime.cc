// GET /v1/realtime?intent=transcription: live transcription over WebSocket (OpenAI's Realtime
// API, transcription sessions; docs/realtime.md), and GET /: the web page that uses it.
#include <memory>
#include <string_view>

#include "service/api_error.h"
#include "service/live_sessions.h"
#include "service/routes.h"

namespace amanuensis::service {

// cmake/embed_text.cmake makes it from src/service/web/index.html.
std::string_view web_page();

void add_realtime_routes(HttpServer& server, LiveSessions& sessions) {
  server.websocket("/v1/realtime", [&sessions](const Request& request,
                                               const std::shared_ptr<WebSocketPeer>& peer) {
    // OpenAI's conversation sessions (no intent, or a speech model) are not served here.
    if (request.get_param_value("intent") != "transcription") {
      throw bad_request(
          "only transcription sessions are served: connect to /v1/realtime?intent=transcription",
          "intent");
    }
    return sessions.open(request, peer);
  });

  server.on_get("/", [](Request& /*request*/, Response& response) {
    response.status = 200;
    response.set_header("Cache-Control", "no-cache");
    response.set_content(std::string(web_page()), "text/html; charset=utf-8");
  });
}

}  // namespace amanuensis::service
