// The voice-activity-detection settings of a form: faster-whisper's `vad_filter` and
// `vad_parameters`, OpenAI's `chunking_strategy`, and the fields of POST
// /v1/audio/speech/timestamps (speaches' names and defaults).
//
// An object-valued field arrives in one of two encodings, both accepted: a JSON object in one
// field (`vad_parameters={"threshold": 0.6}`, what curl users write), or one field per key
// (`vad_parameters[threshold]=0.6`, how the openai Python SDK encodes a nested object, and so
// what `extra_body={"vad_parameters": {...}}` and `chunking_strategy={...}` send). A bad key,
// type or value is a 400 naming the field and the key ("vad_parameters.threshold must be between
// 0 and 1, got 1.5").
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "service/multipart.h"

namespace amanuensis::service {

// The one VAD model the server runs, by speaches' name for it.
inline constexpr std::string_view kVadModelName = "silero_vad_v6";

// VAD settings a client gave, by faster-whisper's VadOptions names; the rest keep the defaults of
// the mode they are applied to.
struct VadOverrides {
  std::optional<float> threshold;
  std::optional<float> neg_threshold;
  std::optional<int> min_speech_duration_ms;
  std::optional<float> max_speech_duration_s;
  std::optional<int> min_silence_duration_ms;
  std::optional<int> speech_pad_ms;

  [[nodiscard]] bool empty() const;
  [[nodiscard]] VadOptions over(VadOptions defaults) const;
};

// One key's value as the client sent it.
// The implicit (noexcept) move operations only move the nlohmann::json, whose own move constructor
// and assignment are declared noexcept; the check follows calls inside nlohmann's implementation
// to code that may throw.
// NOLINTNEXTLINE(bugprone-exception-escape): false positive, see above
struct FieldValue {
  nlohmann::json json;  // inside a JSON object: the JSON value; otherwise the text, as a string
  bool text = false;    // sent as form text (a bracketed key or a plain field), to be parsed
};

// A form field whose value is an object, in either encoding (see above).
class ObjectField {
 public:
  explicit ObjectField(std::string name) : name_(std::move(name)) {}

  // Takes the part when it is this field (`name`) or one of its keys (`name[key]`); false for
  // any other field. Throws 400 for invalid JSON, a key given twice or the encodings mixed.
  bool take(std::string_view part_name, std::string_view value);

  [[nodiscard]] const std::string& name() const { return name_; }
  // Given, and not `null` (or empty).
  [[nodiscard]] bool given() const { return !members_.empty() || object_ || scalar_; }
  // Text that is neither a JSON object nor null (`auto`, or the JSON string "auto").
  [[nodiscard]] const std::optional<std::string>& scalar() const { return scalar_; }
  [[nodiscard]] const std::map<std::string, FieldValue>& members() const { return members_; }

 private:
  // The one-field encoding's text, trimmed.
  void read_whole(std::string_view text);

  std::string name_;
  bool whole_ = false;   // the one-field encoding was used
  bool object_ = false;  // ... and held an object (possibly empty)
  std::optional<std::string> scalar_;
  std::map<std::string, FieldValue> members_;
};

// vad_parameters' keys, checked.
VadOverrides vad_parameters_of(const ObjectField& field);

// chunking_strategy as VAD settings: nothing when not given; "auto": the VAD with the mode's
// defaults (no overrides); {"type": "server_vad", "threshold", "prefix_padding_ms",
// "silence_duration_ms"}: threshold, speech_pad_ms and min_silence_duration_ms, each defaulting to
// OpenAI's 0.5, 300 and 200.
std::optional<VadOverrides> chunking_strategy_of(const ObjectField& field);

// vad_filter, vad_parameters and chunking_strategy of a transcription form, read as they come
// and settled into TranscribeOptions once the whole form is read (batch_size picks the defaults
// the given keys override: VadOptions{} sequential, min_silence_duration_ms 160 batched).
class VadFields {
 public:
  // Takes the part when it is one of these fields; false otherwise.
  bool take(std::string_view name, std::string_view value);
  // Sets options.vad_filter and options.vad_parameters; 400 for contradicting fields.
  void apply(TranscribeOptions& options) const;

 private:
  std::optional<bool> vad_filter_;
  ObjectField parameters_{"vad_parameters"};
  ObjectField chunking_{"chunking_strategy"};
};

// POST /v1/audio/speech/timestamps: the upload and the VAD settings, speaches' defaults
// (threshold 0.75, min_silence_duration_ms 1000, speech_pad_ms 0, the rest as VadOptions).
struct SpeechTimestampsRequest {
  VadOptions options;
  std::string file_name;
  std::string_view file;  // points into the request body
};

// Throws ApiError (400) naming the field: no file or two, an empty file, a model other than
// silero_vad_v6 (model_not_found), a bad value.
SpeechTimestampsRequest parse_speech_timestamps_form(const std::vector<FormPart>& parts);

// speaches' defaults for the endpoint above.
VadOptions speech_timestamps_defaults();

}  // namespace amanuensis::service
