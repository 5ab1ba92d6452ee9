// libFuzzer target: a transcription request's Content-Type and body, through everything the
// service does with them before the engine sees anything: the Content-Type's boundary, the
// multipart parser, the form-to-options layer (both the OpenAI and the legacy endpoint's rules,
// the VAD settings in both of their encodings), the speech-timestamps form, and the error body a
// client would receive.
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
#include "service/vad_fields.h"

namespace {

using amanuensis::service::ApiError;
using amanuensis::service::FormContext;

// What the engine's validate(VadOptions) would refuse must have been a 400 already.
void check_vad(const amanuensis::VadOptions& vad) {
  const auto probability = [](float p) { return p >= 0.0F && p <= 1.0F; };
  if (!probability(vad.threshold)) __builtin_trap();
  if (vad.neg_threshold && !probability(*vad.neg_threshold)) __builtin_trap();
  if (vad.min_speech_duration_ms < 0 || vad.min_silence_duration_ms < 0 || vad.speech_pad_ms < 0)
    __builtin_trap();
  if (!(vad.max_speech_duration_s > 0.0F)) __builtin_trap();
}

void parse_timestamps_form(const std::vector<amanuensis::service::FormPart>& parts) {
  try {
    const auto request = amanuensis::service::parse_speech_timestamps_form(parts);
    if (request.file.empty()) __builtin_trap();
    check_vad(request.options);
  } catch (const ApiError& error) {
    if (error.status() != 400) __builtin_trap();
    static_cast<void>(error.body());
  }
}

void parse_form(const std::vector<amanuensis::service::FormPart>& parts,
                const FormContext& context) {
  try {
    const auto request = amanuensis::service::parse_transcription_form(parts, context);
    // The parsed request must be self-consistent.
    if (request.file.empty()) __builtin_trap();
    if (request.options.temperatures.empty()) __builtin_trap();
    if (request.options.beam_size < 1 || request.options.best_of < 1) __builtin_trap();
    const auto& o = request.options;
    if (o.batch_size < 0 || o.batch_size > 256) __builtin_trap();
    if (!(o.repetition_penalty > 0.0F) || o.no_repeat_ngram_size < 0) __builtin_trap();
    if (o.vad_parameters) check_vad(*o.vad_parameters);
    // VAD settings ask for the VAD unless vad_filter said no; never over clip_timestamps.
    if (o.vad_filter == true && !o.clip_timestamps.empty()) __builtin_trap();
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
    parse_timestamps_form(parts);
  } catch (const ApiError& error) {
    if (error.status() != 400) __builtin_trap();
    static_cast<void>(error.body());
  }
  return 0;
}
