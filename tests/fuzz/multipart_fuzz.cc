// libFuzzer target: a transcription request's Content-Type and body, through everything the
// service does with them before the engine sees anything: the Content-Type's boundary, the
// multipart parser, the form-to-options layer (both the OpenAI and the legacy endpoint's rules),
// and the error body a client would receive.
//
// Input: the Content-Type header value, a newline, then the body. The seeds (tests/fuzz/run.sh)
// start from well-formed requests, so mutations explore near-valid forms.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "service/api_error.h"
#include "service/form_options.h"
#include "service/multipart.h"

namespace {

using amanuensis::service::ApiError;
using amanuensis::service::FormContext;

void parse_form(const std::vector<amanuensis::service::FormPart>& parts,
                const FormContext& context) {
  try {
    const auto request = amanuensis::service::parse_transcription_form(parts, context);
    // The parsed request must be self-consistent.
    if (request.file.empty()) __builtin_trap();
    if (request.options.temperatures.empty()) __builtin_trap();
    if (request.options.beam_size < 1 || request.options.best_of < 1) __builtin_trap();
    static_cast<void>(amanuensis::service::response_format_name(request.response_format));
  } catch (const ApiError& error) {
    if (error.status() != 400) __builtin_trap();  // form problems are the client's: always 400
    static_cast<void>(error.body());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view content_type = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  static_cast<void>(amanuensis::service::is_multipart_form_data(content_type));
  std::string boundary;
  try {
    boundary = amanuensis::service::multipart_boundary(content_type);
  } catch (const ApiError& error) {
    static_cast<void>(error.body());
    boundary = "b";  // still parse the body, with a boundary the seeds use
  }
  try {
    const auto parts = amanuensis::service::parse_multipart(body, boundary);
    for (const auto& part : parts) {
      // Every part's bytes lie inside the body.
      if (part.data.data() < body.data() ||
          part.data.data() + part.data.size() > body.data() + body.size()) {
        __builtin_trap();
      }
    }
    parse_form(parts, {.task = "transcribe", .model_name = "tiny.en", .multilingual = false});
    parse_form(parts, {.task = "translate", .model_name = "base", .multilingual = true});
    parse_form(parts, {.task = "transcribe",
                       .task_field_allowed = true,
                       .file_fields = {"file", "audio"},
                       .model_name = "base",
                       .multilingual = true});
  } catch (const ApiError& error) {
    if (error.status() != 400) __builtin_trap();
    static_cast<void>(error.body());
  }
  return 0;
}
