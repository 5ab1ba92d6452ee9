// Turns the fields of a transcription form into engine options, checking every value.
//
// Field names follow the OpenAI audio API (file, model, language, prompt, temperature,
// response_format, timestamp_granularities[], stream, chunking_strategy) plus faster-whisper's
// transcribe() options (beam_size, best_of, word_timestamps, hotwords, vad_filter,
// vad_parameters, batch_size, ...). A bad value is a 400 that names the field; unknown fields are
// ignored, as OpenAI clients send fields some models do not use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "service/form_values.h"
#include "service/multipart.h"

namespace amanuensis::service {

enum class ResponseFormat { kJson, kText, kSrt, kVtt, kVerboseJson };

std::string_view response_format_name(ResponseFormat format);

// The alias every OpenAI client sends as `model`.
inline constexpr std::string_view kOpenAiModelAlias = "whisper-1";

struct TranscriptionRequest {
  TranscribeOptions options;
  ResponseFormat response_format = ResponseFormat::kJson;
  bool stream = false;
  // timestamp_granularities[]: which timings verbose_json lists.
  bool include_words = false;
  bool include_segments = true;
  std::string model;      // as the client named it; empty when not given
  std::string file_name;  // the upload's filename, for messages
  std::string_view file;  // the upload's bytes (points into the request body)
};

// What a form is checked against: the endpoint and the model the request runs on.
struct FormContext {
  std::string task = "transcribe";  // "translate" on /v1/audio/translations
  bool task_field_allowed = false;  // the legacy /transcribe takes `task` as a field
  std::vector<std::string> file_fields = {"file"};  // field names that may carry the upload
  std::string model_name;                           // the chosen model's name, accepted as `model`
  bool multilingual = false;
};

// The `model` field's value, trimmed; empty when the form has none.
std::string model_field(const std::vector<FormPart>& parts);

// Throws ApiError (400) naming the field for a missing file, an unknown model or a bad value.
// `model` may name the model (FormContext::model_name) or be an OpenAI name standing for the
// default one (is_default_model_alias): the route has chosen the model by it already.
TranscriptionRequest parse_transcription_form(const std::vector<FormPart>& parts,
                                              const FormContext& context);

}  // namespace amanuensis::service
