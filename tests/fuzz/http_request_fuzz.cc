// libFuzzer target: bytes as they would arrive on a connection, through the whole HTTP path with
// no socket: Beast's request-line, header and body parsing (chunked included), our request path
// (keep-alive, 100-continue, body limit, close-after-error), the API-key check, the routes and
// every error body. Two servers, with and without --api-key; the first input byte picks one.
//
// No model is loaded, so a transcription (or speech-timestamps) request ends at 503 once its
// upload has been read and parsed, and no worker ever runs: the engine entry points below only
// satisfy the linker and trap if reached. That keeps this target free of the engine (and fast),
// while multipart_fuzz covers the form layer in depth and audio_decoder_fuzz the decoder.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "service/http_server.h"
#include "service/routes.h"
#include "service/service_context.h"

// The engine's whole public API, stubbed: the service may use nothing else of it.
namespace amanuensis {
Waveform decode_audio_file(const std::filesystem::path&) { __builtin_trap(); }
Waveform decode_audio_bytes(std::span<const std::uint8_t>) { __builtin_trap(); }
std::vector<BackendReport> list_backends(const std::string&) { __builtin_trap(); }
Model Model::load(const ModelOptions&) { __builtin_trap(); }
const ModelInfo& Model::info() const { __builtin_trap(); }
std::vector<BackendReport> Model::backend_reports() const { __builtin_trap(); }
Timings Model::timings() const { __builtin_trap(); }
std::string Model::backend_description() const { __builtin_trap(); }
Transcription Model::transcribe(std::span<const float>, const TranscribeOptions&,
                                const SegmentCallback&, std::stop_token,
                                const InfoCallback&) const {
  __builtin_trap();
}
std::vector<SpeechSpan> detect_speech(std::span<const float>, const VadOptions&,
                                      const std::filesystem::path&) {
  __builtin_trap();
}
std::vector<float> speech_probabilities(std::span<const float>, const std::filesystem::path&) {
  __builtin_trap();
}
void validate(const VadOptions&) { __builtin_trap(); }
}  // namespace amanuensis

namespace {

using amanuensis::service::HttpServer;
using amanuensis::service::ServeConfig;
using amanuensis::service::ServiceContext;

struct Service {
  explicit Service(const std::string& api_key) : context(config(api_key)), server(2) {
    // Every route but the live sessions' (see run.sh).
    amanuensis::service::add_request_routes(server, context);
  }
  static ServeConfig config(const std::string& api_key) {
    ServeConfig c;
    c.workers = 1;
    c.max_queue = 1;
    c.max_upload_mb = 0.25;  // keeps every input's body small
    c.api_key = api_key;
    c.access_log = false;
    return c;
  }
  ServiceContext context;
  HttpServer server;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Service open_service("");
  static Service keyed_service("k3y");
  if (size == 0) return 0;
  auto& service = (data[0] & 1) != 0 ? keyed_service : open_service;
  const auto out = service.server.serve_bytes(
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  // Whatever came in, something well-formed went out (or nothing, for an empty connection).
  if (!out.empty() && out.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
  return 0;
}
