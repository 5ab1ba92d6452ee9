// Form fields to TranscribeOptions: OpenAI's names and semantics, faster-whisper's extras, and a
// 400 naming the field for every bad value.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "service/api_error.h"
#include "service/form_options.h"
#include "service/vad_fields.h"

namespace amanuensis::service {
namespace {

const FormContext kEnglish{.model_name = "tiny.en", .multilingual = false};
const FormContext kMultilingual{.model_name = "base", .multilingual = true};

std::vector<FormPart> form(const std::vector<std::pair<std::string, std::string>>& fields,
                           std::string_view file = "RIFF") {
  std::vector<FormPart> parts;
  static std::deque<std::string> storage;  // stable: keeps the views valid
  for (const auto& [name, value] : fields) {
    storage.push_back(value);
    parts.push_back({name, false, {}, {}, storage.back()});
  }
  parts.push_back({"file", true, "clip.wav", "audio/wav", file});
  return parts;
}

ApiError error_of(const std::vector<FormPart>& parts, const FormContext& context = kEnglish) {
  try {
    parse_transcription_form(parts, context);
  } catch (const ApiError& error) {
    return error;
  }
  ADD_FAILURE() << "no error";
  return bad_request("none");
}

TEST(FormOptions, Defaults) {
  const auto request = parse_transcription_form(form({}), kEnglish);
  EXPECT_EQ(request.response_format, ResponseFormat::kJson);
  EXPECT_FALSE(request.stream);
  EXPECT_EQ(request.file, "RIFF");
  EXPECT_EQ(request.file_name, "clip.wav");
  EXPECT_EQ(request.options.task, "transcribe");
  EXPECT_EQ(request.options.temperatures, TranscribeOptions{}.temperatures);
  EXPECT_EQ(request.options.beam_size, TranscribeOptions{}.beam_size);
}

TEST(FormOptions, OpenAiFields) {
  const auto request = parse_transcription_form(form({{"model", "whisper-1"},
                                                      {"language", "EN"},
                                                      {"prompt", "Names: Kennedy."},
                                                      {"response_format", "verbose_json"},
                                                      {"timestamp_granularities[]", "word"},
                                                      {"stream", "True"},
                                                      {"temperature", "0.3"}}),
                                                kEnglish);
  EXPECT_EQ(request.options.language, "en");
  EXPECT_EQ(request.options.initial_prompt, "Names: Kennedy.");
  EXPECT_EQ(request.response_format, ResponseFormat::kVerboseJson);
  EXPECT_TRUE(request.include_words);
  EXPECT_FALSE(request.include_segments);  // asked for words only
  EXPECT_TRUE(request.options.word_timestamps);
  EXPECT_TRUE(request.stream);
  ASSERT_EQ(request.options.temperatures.size(), 4U);  // 0.3, 0.5, 0.7, 0.9
  EXPECT_FLOAT_EQ(request.options.temperatures.front(), 0.3F);
  EXPECT_FLOAT_EQ(request.options.temperatures.back(), 0.9F);
}

TEST(FormOptions, TemperatureZeroIsTheFallbackLadder) {
  EXPECT_EQ(parse_transcription_form(form({{"temperature", "0"}}), kEnglish).options.temperatures,
            TranscribeOptions{}.temperatures);
  const auto ladder = parse_transcription_form(form({{"temperature", "[0, 0.5]"}}), kEnglish);
  EXPECT_EQ(ladder.options.temperatures, (std::vector<float>{0.0F, 0.5F}));
}

TEST(FormOptions, FasterWhisperFields) {
  const auto request = parse_transcription_form(form({{"beam_size", "3"},
                                                      {"best_of", "2"},
                                                      {"patience", "1.5"},
                                                      {"vad_filter", "true"},
                                                      {"word_timestamps", "1"},
                                                      {"hotwords", "Amanuensis"},
                                                      {"condition_on_previous_text", "off"},
                                                      {"no_speech_threshold", "None"},
                                                      {"suppress_tokens", "-1,50"},
                                                      {"clip_timestamps", "0"},
                                                      {"max_new_tokens", "100"},
                                                      {"seed", "42"},
                                                      {"unknown_field", "ignored"}}),
                                                kEnglish);
  const auto& o = request.options;
  EXPECT_EQ(o.beam_size, 3);
  EXPECT_EQ(o.best_of, 2);
  EXPECT_FLOAT_EQ(o.patience, 1.5F);
  EXPECT_EQ(o.vad_filter, true);
  EXPECT_TRUE(o.word_timestamps);
  EXPECT_EQ(o.hotwords, "Amanuensis");
  EXPECT_FALSE(o.condition_on_previous_text);
  EXPECT_FALSE(o.no_speech_threshold.has_value());
  EXPECT_EQ(o.suppress_tokens, (std::vector<int>{-1, 50}));
  EXPECT_TRUE(o.clip_timestamps.empty());
  EXPECT_EQ(o.max_new_tokens, 100);
  EXPECT_EQ(o.seed, 42U);
}

TEST(FormOptions, Task) {
  EXPECT_EQ(parse_transcription_form(
                form({}), {.task = "translate", .model_name = "base", .multilingual = true})
                .options.task,
            "translate");
  const FormContext legacy{.task_field_allowed = true,
                           .file_fields = {"file", "audio"},
                           .model_name = "base",
                           .multilingual = true};
  EXPECT_EQ(parse_transcription_form(form({{"task", "translate"}}), legacy).options.task,
            "translate");
  EXPECT_EQ(error_of(form({{"task", "translate"}}), kMultilingual).param(), "task");
  EXPECT_EQ(error_of(form({}), {.task = "translate", .model_name = "tiny.en"}).param(), "model");
}

TEST(FormOptions, Errors) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> fields;
    std::string param;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{{"temperature", "warm"}}, "temperature", "expected a number"},
      {{{"temperature", "inf"}}, "temperature", "invalid temperature"},
      {{{"temperature", "-0.1"}}, "temperature", "from 0 to 1"},
      {{{"beam_size", "65"}}, "beam_size", "from 1 to 64"},
      {{{"beam_size", " 5x"}}, "beam_size", "integer"},
      {{{"response_format", "diarized_json"}}, "response_format", "verbose_json"},
      {{{"language", "xx"}}, "language", "unknown language"},
      {{{"language", "fr"}}, "language", "English-only"},
      {{{"model", "large-v3"}}, "model", "unknown model"},
      {{{"timestamp_granularities[]", "word"}}, "timestamp_granularities[]", "verbose_json"},
      {{{"stream", "2"}}, "stream", "true or false"},
      {{{"prompt", std::string(kMaxTextFieldBytes + 1, 'x')}}, "prompt", "longer than"},
      {{{"language", "en"}, {"language", "en"}}, "language", "more than once"},
  };
  for (const auto& c : cases) {
    const auto error = error_of(form(c.fields));
    EXPECT_EQ(error.status(), 400);
    EXPECT_EQ(error.param(), c.param) << error.what();
    EXPECT_NE(std::string(error.what()).find(c.words), std::string::npos) << error.what();
  }
  EXPECT_EQ(error_of({}).param(), "file");
  EXPECT_NE(std::string(error_of(form({}, "")).what()).find("empty (0 bytes)"), std::string::npos);
  auto two_files = form({});
  two_files.push_back(two_files.back());
  EXPECT_NE(std::string(error_of(two_files).what()).find("more than one file"), std::string::npos);
}

TEST(FormOptions, ModelName) {
  EXPECT_EQ(parse_transcription_form(form({{"model", "tiny.en"}}), kEnglish).model, "tiny.en");
  EXPECT_EQ(error_of(form({{"model", "large-v3"}})).code(), "model_not_found");
  // OpenAI's names stand for the default model, which the route has chosen by them.
  for (const auto* alias :
       {"whisper-1", "whisper-2", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}) {
    EXPECT_EQ(parse_transcription_form(form({{"model", alias}}), kEnglish).model, alias);
  }
}

// --- long recordings: batch_size, repetition controls, VAD, chunking_strategy -------------------

using Fields = std::vector<std::pair<std::string, std::string>>;

TranscribeOptions options_of(const Fields& fields) {
  return parse_transcription_form(form(fields), kEnglish).options;
}

// A 400 whose param is `param` and whose message contains each of `words`.
void expect_rejected(const Fields& fields, const std::string& param,
                     const std::vector<std::string>& words) {
  const auto error = error_of(form(fields));
  EXPECT_EQ(error.status(), 400);
  EXPECT_EQ(error.param(), param) << error.what();
  for (const auto& word : words) {
    EXPECT_NE(std::string(error.what()).find(word), std::string::npos)
        << "'" << word << "' not in: " << error.what();
  }
}

TEST(FormOptions, BatchSizeAndRepetitionControls) {
  const auto o = options_of(
      {{"batch_size", "8"}, {"repetition_penalty", "1.2"}, {"no_repeat_ngram_size", "3"}});
  EXPECT_EQ(o.batch_size, 8);
  EXPECT_FLOAT_EQ(o.repetition_penalty, 1.2F);
  EXPECT_EQ(o.no_repeat_ngram_size, 3);
  EXPECT_FALSE(o.vad_filter.has_value());  // batched mode's own default (on) applies
  EXPECT_FALSE(o.vad_parameters.has_value());
  EXPECT_EQ(options_of({{"batch_size", "0"}}).batch_size, 0);
  EXPECT_EQ(options_of({{"batch_size", "256"}}).batch_size, 256);
  EXPECT_EQ(options_of({{"no_repeat_ngram_size", "0"}}).no_repeat_ngram_size, 0);
  EXPECT_EQ(options_of({}).batch_size, 0);
  EXPECT_FLOAT_EQ(options_of({}).repetition_penalty, 1.0F);

  expect_rejected({{"batch_size", "257"}}, "batch_size", {"from 0 to 256"});
  expect_rejected({{"batch_size", "-1"}}, "batch_size", {"from 0 to 256"});
  expect_rejected({{"batch_size", "8.5"}}, "batch_size", {"integer"});
  expect_rejected({{"batch_size", "eight"}}, "batch_size", {"integer"});
  expect_rejected({{"batch_size", "8"}, {"batch_size", "8"}}, "batch_size", {"more than once"});
  expect_rejected({{"repetition_penalty", "0"}}, "repetition_penalty", {"above 0"});
  expect_rejected({{"repetition_penalty", "-1"}}, "repetition_penalty", {"repetition_penalty"});
  expect_rejected({{"repetition_penalty", "nan"}}, "repetition_penalty", {"a number"});
  expect_rejected({{"repetition_penalty", "inf"}}, "repetition_penalty", {"a number"});
  expect_rejected({{"no_repeat_ngram_size", "-1"}}, "no_repeat_ngram_size", {"integer from 0"});
  expect_rejected({{"no_repeat_ngram_size", "1.5"}}, "no_repeat_ngram_size", {"integer"});
}

// chunk_length (faster-whisper's): whole seconds, 1 to Whisper's 30.
TEST(FormOptions, ChunkLength) {
  EXPECT_EQ(options_of({{"chunk_length", "10"}}).chunk_length, 10);
  EXPECT_EQ(options_of({{"chunk_length", "30"}}).chunk_length, 30);
  EXPECT_FALSE(options_of({}).chunk_length.has_value());
  expect_rejected({{"chunk_length", "0"}}, "chunk_length", {"from 1 to 30"});
  expect_rejected({{"chunk_length", "31"}}, "chunk_length", {"from 1 to 30"});
  expect_rejected({{"chunk_length", "7.5"}}, "chunk_length", {"integer"});
}

// keywords[] (OpenAI's field): repeated or a comma list, each "word:weight"; a bad entry is a
// 400 naming the field.
TEST(FormOptions, Keywords) {
  const auto o = options_of({{"keywords[]", "Gutenberg:2"}, {"keywords[]", "Caxton, clubs:0.5"}});
  ASSERT_EQ(o.keywords.size(), 3U);
  EXPECT_EQ(o.keywords[0].text, "Gutenberg");
  EXPECT_FLOAT_EQ(o.keywords[0].weight, 2.0F);
  EXPECT_EQ(o.keywords[1].text, "Caxton");
  EXPECT_FLOAT_EQ(o.keywords[1].weight, 1.0F);
  EXPECT_FLOAT_EQ(o.keywords[2].weight, 0.5F);
  EXPECT_EQ(options_of({{"keywords", "a"}}).keywords.size(), 1U);
  EXPECT_TRUE(options_of({}).keywords.empty());
  expect_rejected({{"keywords[]", "clubs:0"}}, "keywords[]", {"clubs:0", "above 0"});
  expect_rejected({{"keywords", "a,,b"}}, "keywords", {"empty"});
}

TEST(FormOptions, VadFilter) {
  EXPECT_EQ(options_of({{"vad_filter", "true"}}).vad_filter, true);
  EXPECT_EQ(options_of({{"vad_filter", "False"}}).vad_filter, false);
  EXPECT_FALSE(options_of({}).vad_filter.has_value());
  EXPECT_FALSE(options_of({{"vad_filter", "true"}}).vad_parameters.has_value());  // engine defaults
  expect_rejected({{"vad_filter", "maybe"}}, "vad_filter", {"true or false"});
  expect_rejected({{"vad_filter", "true"}, {"vad_filter", "true"}}, "vad_filter",
                  {"more than once"});
  expect_rejected({{"vad_filter", "true"}, {"clip_timestamps", "0,5"}}, "clip_timestamps",
                  {"exclude each other"});
  // Off, or over clip_timestamps' default "0" (the whole file), there is nothing to exclude.
  EXPECT_EQ(options_of({{"vad_filter", "false"}, {"clip_timestamps", "0,5"}}).vad_filter, false);
  EXPECT_EQ(options_of({{"vad_filter", "true"}, {"clip_timestamps", "0"}}).vad_filter, true);
}

TEST(FormOptions, VadParametersAsJson) {
  const auto o =
      options_of({{"vad_filter", "true"},
                  {"vad_parameters",
                   R"({"threshold": 0.6, "min_silence_duration_ms": 500, "neg_threshold": 0.3,
                             "min_speech_duration_ms": 250.0, "max_speech_duration_s": 20,
                             "speech_pad_ms": 100})"}});
  ASSERT_TRUE(o.vad_parameters.has_value());
  const auto& vad = *o.vad_parameters;
  EXPECT_FLOAT_EQ(vad.threshold, 0.6F);
  EXPECT_EQ(vad.neg_threshold, 0.3F);
  EXPECT_EQ(vad.min_speech_duration_ms, 250);
  EXPECT_FLOAT_EQ(vad.max_speech_duration_s, 20.0F);
  EXPECT_EQ(vad.min_silence_duration_ms, 500);
  EXPECT_EQ(vad.speech_pad_ms, 100);
  EXPECT_EQ(o.vad_filter, true);
}

TEST(FormOptions, VadParametersStartFromTheModesDefaults) {
  // Sequential: VadOptions{}, the given keys overridden.
  const auto sequential = options_of({{"vad_parameters", R"({"threshold": 0.6})"}});
  ASSERT_TRUE(sequential.vad_parameters.has_value());
  EXPECT_FLOAT_EQ(sequential.vad_parameters->threshold, 0.6F);
  EXPECT_EQ(sequential.vad_parameters->min_silence_duration_ms,
            VadOptions{}.min_silence_duration_ms);
  EXPECT_EQ(sequential.vad_parameters->speech_pad_ms, VadOptions{}.speech_pad_ms);
  EXPECT_FALSE(sequential.vad_parameters->neg_threshold.has_value());
  // Settings ask for the VAD unless vad_filter says otherwise.
  EXPECT_EQ(sequential.vad_filter, true);
  EXPECT_EQ(
      options_of({{"vad_filter", "false"}, {"vad_parameters", R"({"threshold": 0.6})"}}).vad_filter,
      false);
  // Batched: min_silence_duration_ms 160, whichever field comes first.
  for (const auto& fields :
       {Fields{{"batch_size", "8"}, {"vad_parameters", R"({"threshold":0.6})"}},
        Fields{{"vad_parameters", R"({"threshold":0.6})"}, {"batch_size", "8"}}}) {
    const auto batched = options_of(fields);
    ASSERT_TRUE(batched.vad_parameters.has_value());
    EXPECT_EQ(batched.vad_parameters->min_silence_duration_ms, 160);
    EXPECT_FLOAT_EQ(batched.vad_parameters->threshold, 0.6F);
  }
  const auto given =
      options_of({{"batch_size", "8"}, {"vad_parameters", R"({"min_silence_duration_ms": 700})"}});
  EXPECT_EQ(given.vad_parameters->min_silence_duration_ms, 700);
}

TEST(FormOptions, VadParametersAsBracketedFields) {
  // What the openai SDK sends for extra_body={"vad_parameters": {...}}.
  const auto o = options_of({{"vad_parameters[threshold]", "0.3"},
                             {"vad_parameters[max_speech_duration_s]", "inf"},
                             {"vad_parameters[min_silence_duration_ms]", "500"}});
  ASSERT_TRUE(o.vad_parameters.has_value());
  EXPECT_FLOAT_EQ(o.vad_parameters->threshold, 0.3F);
  EXPECT_TRUE(std::isinf(o.vad_parameters->max_speech_duration_s));
  EXPECT_EQ(o.vad_parameters->min_silence_duration_ms, 500);
  EXPECT_EQ(o.vad_filter, true);
  // neg_threshold=None alone overrides nothing, so vad_parameters may stay unset: checked before
  // it is read (reading it unset was undefined, and failed on aarch64).
  const auto none = options_of({{"vad_parameters[neg_threshold]", "None"}});
  EXPECT_TRUE(!none.vad_parameters || !none.vad_parameters->neg_threshold);
  EXPECT_TRUE(std::isinf(options_of({{"vad_parameters", R"({"max_speech_duration_s": "inf"})"}})
                             .vad_parameters->max_speech_duration_s));
}

TEST(FormOptions, VadParametersEdgeCases) {
  // null (or empty) is as if not given: no settings, the VAD stays as vad_filter says.
  for (const auto* none : {"null", "", " ", "None"}) {
    const auto o = options_of({{"vad_parameters", none}});
    EXPECT_FALSE(o.vad_parameters.has_value()) << none;
    EXPECT_FALSE(o.vad_filter.has_value()) << none;
  }
  // {} asks for the VAD with its defaults.
  EXPECT_EQ(options_of({{"vad_parameters", "{}"}}).vad_filter, true);
  EXPECT_FALSE(options_of({{"vad_parameters", "{}"}}).vad_parameters.has_value());
  EXPECT_EQ(options_of({{"vad_parameters", R"({"neg_threshold": null})"}}).vad_filter, true);

  const std::string kField = "vad_parameters";
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"[1, 2]", {"must be a JSON object", "an array"}},
      {"5", {"must be a JSON object", "'5'"}},
      {"threshold=0.5", {"must be a JSON object"}},
      {R"("auto")", {"must be a JSON object"}},
      {"{", {"not valid JSON"}},
      {R"({"threshold": 0.5,})", {"not valid JSON"}},
      {R"({"threshold": NaN})", {"not valid JSON"}},
      {R"({"max_speech_duration_s": Infinity})", {"not valid JSON"}},
      {R"({"thresh": 0.5})", {"vad_parameters.thresh", "not a VAD setting", "speech_pad_ms"}},
      {R"({"threshold": 1.5})", {"vad_parameters.threshold must be between 0 and 1", "1.5"}},
      {R"({"threshold": -0.1})", {"vad_parameters.threshold must be between 0 and 1"}},
      {R"({"threshold": 1e309})", {"not valid JSON"}},
      {R"({"threshold": "0.5"})", {"vad_parameters.threshold must be a number", "string"}},
      {R"({"threshold": "NaN"})", {"vad_parameters.threshold", "the string 'NaN'"}},
      {R"({"threshold": true})", {"vad_parameters.threshold", "true"}},
      {R"({"threshold": null})", {"vad_parameters.threshold", "null"}},
      {R"({"threshold": [0.5]})", {"vad_parameters.threshold", "an array"}},
      {R"({"neg_threshold": 2})", {"vad_parameters.neg_threshold must be between 0 and 1"}},
      {R"({"min_silence_duration_ms": 500.5})",
       {"vad_parameters.min_silence_duration_ms", "integer"}},
      {R"({"min_silence_duration_ms": -1})", {"vad_parameters.min_silence_duration_ms"}},
      {R"({"min_speech_duration_ms": 1e30})", {"vad_parameters.min_speech_duration_ms"}},
      {R"({"speech_pad_ms": 99999999999999999999999})", {"vad_parameters.speech_pad_ms"}},
      {R"({"max_speech_duration_s": 0})", {"vad_parameters.max_speech_duration_s", "above 0"}},
      {R"({"max_speech_duration_s": -5})", {"vad_parameters.max_speech_duration_s"}},
      {R"({"max_speech_duration_s": "forever"})", {"vad_parameters.max_speech_duration_s"}},
      {R"({"threshold": {"value": 0.5}})", {"vad_parameters.threshold", "an object"}},
  };
  for (const auto& [value, words] : bad) {
    SCOPED_TRACE(value);
    expect_rejected({{kField, value}}, kField, words);
  }
  // The same rules for the bracketed encoding, whose values are text.
  const std::vector<std::pair<Fields, std::vector<std::string>>> bad_keys = {
      {{{"vad_parameters[threshold]", "nan"}}, {"vad_parameters.threshold", "'nan'"}},
      {{{"vad_parameters[threshold]", "NaN"}}, {"vad_parameters.threshold"}},
      {{{"vad_parameters[threshold]", "inf"}}, {"vad_parameters.threshold"}},
      {{{"vad_parameters[threshold]", "high"}}, {"vad_parameters.threshold must be a number"}},
      {{{"vad_parameters[speech_pad_ms]", "1e12"}}, {"vad_parameters.speech_pad_ms"}},
      {{{"vad_parameters[max_speech_duration_s]", "-inf"}}, {"max_speech_duration_s"}},
      {{{"vad_parameters[max_speech_duration_s]", "nan"}}, {"max_speech_duration_s"}},
      {{{"vad_parameters[foo]", "1"}}, {"vad_parameters.foo", "not a VAD setting"}},
      {{{"vad_parameters[]", "1"}}, {"vad_parameters.", "not a VAD setting"}},
      {{{"vad_parameters[threshold]", "0.5"}, {"vad_parameters[threshold]", "0.5"}},
       {"more than once"}},
      {{{"vad_parameters", "{}"}, {"vad_parameters[threshold]", "0.5"}}, {"both"}},
      {{{"vad_parameters[threshold]", "0.5"}, {"vad_parameters", "{}"}}, {"both"}},
  };
  for (const auto& [fields, words] : bad_keys) {
    SCOPED_TRACE(fields.front().first + "=" + fields.front().second);
    expect_rejected(fields, kField, words);
  }
  // Deep nesting is refused without recursion trouble, and long values without parsing.
  expect_rejected({{kField, std::string(100000, '[')}}, kField, {"vad_parameters"});
  expect_rejected({{kField, std::string(20000, '[') + std::string(20000, ']')}}, kField,
                  {"must be a JSON object"});
  expect_rejected({{"vad_parameters[threshold]", std::string(kMaxTextFieldBytes + 1, '1')}}, kField,
                  {"longer than"});
}

TEST(FormOptions, ChunkingStrategyAuto) {
  for (const auto* value : {"auto", R"("auto")", " AUTO "}) {
    const auto o = options_of({{"chunking_strategy", value}});
    EXPECT_EQ(o.vad_filter, true) << value;
    EXPECT_FALSE(o.vad_parameters.has_value()) << value;  // the mode's defaults
  }
  EXPECT_EQ(options_of({{"chunking_strategy", "auto"}, {"vad_filter", "true"}}).vad_filter, true);
  EXPECT_FALSE(options_of({{"chunking_strategy", "null"}}).vad_filter.has_value());
}

TEST(FormOptions, ChunkingStrategyServerVad) {
  const auto check = [](const Fields& fields, float threshold, int pad, int silence) {
    const auto o = options_of(fields);
    EXPECT_EQ(o.vad_filter, true);
    ASSERT_TRUE(o.vad_parameters.has_value());
    EXPECT_FLOAT_EQ(o.vad_parameters->threshold, threshold);
    EXPECT_EQ(o.vad_parameters->speech_pad_ms, pad);
    EXPECT_EQ(o.vad_parameters->min_silence_duration_ms, silence);
    EXPECT_EQ(o.vad_parameters->min_speech_duration_ms, VadOptions{}.min_speech_duration_ms);
  };
  // OpenAI's defaults for what is left out: 0.5, 300 ms, 200 ms.
  check({{"chunking_strategy", R"({"type": "server_vad"})"}}, 0.5F, 300, 200);
  check({{"chunking_strategy[type]", "server_vad"}}, 0.5F, 300, 200);
  check({{"chunking_strategy", R"({"type": "server_vad", "threshold": 0.7,
                                   "prefix_padding_ms": 100, "silence_duration_ms": 500})"}},
        0.7F, 100, 500);
  // The openai SDK's encoding of chunking_strategy={...}.
  check({{"chunking_strategy[type]", "server_vad"},
         {"chunking_strategy[threshold]", "0.7"},
         {"chunking_strategy[prefix_padding_ms]", "100"},
         {"chunking_strategy[silence_duration_ms]", "500"}},
        0.7F, 100, 500);
  const auto batched = options_of({{"chunking_strategy[type]", "server_vad"}, {"batch_size", "4"}});
  EXPECT_EQ(batched.vad_parameters->min_silence_duration_ms, 200);  // given, so not batched's 160
}

TEST(FormOptions, ChunkingStrategyErrors) {
  const std::string kField = "chunking_strategy";
  const std::vector<std::pair<Fields, std::vector<std::string>>> bad = {
      {{{kField, "manual"}}, {R"(chunking_strategy must be "auto")", "'manual'"}},
      {{{kField, "1"}}, {"chunking_strategy must be"}},
      {{{kField, "[]"}}, {"must be a JSON object", "an array"}},
      {{{kField, "{"}}, {"not valid JSON"}},
      {{{kField, "{}"}}, {"chunking_strategy.type is required"}},
      {{{kField, R"({"threshold": 0.5})"}}, {"chunking_strategy.type is required"}},
      {{{kField, R"({"type": "client_vad"})"}}, {"chunking_strategy.type must be", "client_vad"}},
      {{{kField, R"({"type": 1})"}}, {"chunking_strategy.type must be"}},
      {{{kField, R"({"type": "server_vad", "threshold": 2})"}},
       {"chunking_strategy.threshold must be between 0 and 1"}},
      {{{kField, R"({"type": "server_vad", "prefix_padding_ms": -5})"}},
       {"chunking_strategy.prefix_padding_ms"}},
      {{{kField, R"({"type": "server_vad", "silence_duration_ms": "x"})"}},
       {"chunking_strategy.silence_duration_ms"}},
      {{{kField, R"({"type": "server_vad", "create_response": true})"}},
       {"chunking_strategy.create_response", "not a server_vad setting"}},
      {{{"chunking_strategy[type]", "auto"}}, {"chunking_strategy.type must be"}},
      {{{"chunking_strategy[type]", "server_vad"}, {"chunking_strategy[threshold]", "nan"}},
       {"chunking_strategy.threshold"}},
      {{{"chunking_strategy[threshold]", "0.5"}}, {"chunking_strategy.type is required"}},
      {{{kField, "auto"}, {"chunking_strategy[type]", "server_vad"}}, {"both"}},
      {{{kField, "auto"}, {kField, "auto"}}, {"more than once"}},
      {{{kField, "auto"}, {"vad_parameters", R"({"threshold": 0.5})"}}, {"either"}},
      {{{kField, "auto"}, {"vad_filter", "false"}}, {"vad_filter is false"}},
  };
  for (const auto& [fields, words] : bad) {
    SCOPED_TRACE(fields.front().first + "=" + fields.front().second);
    expect_rejected(fields, kField, words);
  }
}

TEST(FormOptions, NewFieldsOnEveryEndpoint) {
  const FormContext translate{.task = "translate", .model_name = "base", .multilingual = true};
  const FormContext legacy{.task_field_allowed = true,
                           .file_fields = {"file", "audio"},
                           .model_name = "base",
                           .multilingual = true};
  for (const auto& context : {translate, legacy}) {
    const auto o =
        parse_transcription_form(
            form({{"batch_size", "2"}, {"chunking_strategy[type]", "server_vad"}}), context)
            .options;
    EXPECT_EQ(o.batch_size, 2);
    EXPECT_EQ(o.vad_filter, true);
    EXPECT_EQ(error_of(form({{"vad_parameters", "[]"}}), context).param(), "vad_parameters");
  }
}

// --- POST /v1/audio/speech/timestamps ------------------------------------------------------------

SpeechTimestampsRequest timestamps_form(const Fields& fields, std::string_view file = "RIFF") {
  return parse_speech_timestamps_form(form(fields, file));
}

ApiError timestamps_error(const std::vector<FormPart>& parts) {
  try {
    parse_speech_timestamps_form(parts);
  } catch (const ApiError& error) {
    return error;
  }
  ADD_FAILURE() << "no error";
  return bad_request("none");
}

TEST(SpeechTimestampsForm, SpeachesDefaults) {
  const auto request = timestamps_form({});
  EXPECT_EQ(request.file, "RIFF");
  EXPECT_EQ(request.file_name, "clip.wav");
  const auto& o = request.options;
  EXPECT_FLOAT_EQ(o.threshold, 0.75F);
  EXPECT_FALSE(o.neg_threshold.has_value());
  EXPECT_EQ(o.min_speech_duration_ms, 0);
  EXPECT_TRUE(std::isinf(o.max_speech_duration_s));
  EXPECT_EQ(o.min_silence_duration_ms, 1000);
  EXPECT_EQ(o.speech_pad_ms, 0);
}

TEST(SpeechTimestampsForm, Fields) {
  const auto o = timestamps_form({{"model", "silero_vad_v6"},
                                  {"threshold", "0.5"},
                                  {"neg_threshold", "0.2"},
                                  {"min_speech_duration_ms", "250"},
                                  {"max_speech_duration_s", "30"},
                                  {"min_silence_duration_ms", "100"},
                                  {"speech_pad_ms", "30"},
                                  {"language", "ignored"}})
                     .options;
  EXPECT_FLOAT_EQ(o.threshold, 0.5F);
  EXPECT_EQ(o.neg_threshold, 0.2F);
  EXPECT_EQ(o.min_speech_duration_ms, 250);
  EXPECT_FLOAT_EQ(o.max_speech_duration_s, 30.0F);
  EXPECT_EQ(o.min_silence_duration_ms, 100);
  EXPECT_EQ(o.speech_pad_ms, 30);
  EXPECT_FALSE(timestamps_form({{"neg_threshold", "None"}}).options.neg_threshold.has_value());
  EXPECT_FLOAT_EQ(timestamps_form({{"model", ""}}).options.threshold, 0.75F);
}

TEST(SpeechTimestampsForm, Errors) {
  struct Case {
    Fields fields;
    std::string param;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{{"model", "silero_vad_v5"}}, "model", "unknown VAD model"},
      {{{"model", "whisper-1"}}, "model", "silero_vad_v6"},
      {{{"threshold", "1.5"}}, "threshold", "threshold must be between 0 and 1, got '1.5'"},
      {{{"threshold", "high"}}, "threshold", "must be a number"},
      {{{"neg_threshold", "-1"}}, "neg_threshold", "between 0 and 1"},
      {{{"min_speech_duration_ms", "-1"}}, "min_speech_duration_ms", "integer from 0"},
      {{{"min_silence_duration_ms", "0.5"}}, "min_silence_duration_ms", "integer"},
      {{{"speech_pad_ms", "nan"}}, "speech_pad_ms", "integer"},
      {{{"max_speech_duration_s", "0"}}, "max_speech_duration_s", "above 0"},
      {{{"threshold", "0.5"}, {"threshold", "0.6"}}, "threshold", "more than once"},
  };
  for (const auto& c : cases) {
    const auto error = timestamps_error(form(c.fields));
    EXPECT_EQ(error.status(), 400);
    EXPECT_EQ(error.param(), c.param) << error.what();
    EXPECT_NE(std::string(error.what()).find(c.words), std::string::npos) << error.what();
  }
  EXPECT_EQ(timestamps_error(form({{"model", "x"}})).code(), "model_not_found");
  EXPECT_EQ(timestamps_error({}).param(), "file");
  EXPECT_NE(std::string(timestamps_error(form({}, "")).what()).find("empty (0 bytes)"),
            std::string::npos);
  auto two_files = form({});
  two_files.push_back(two_files.back());
  EXPECT_NE(std::string(timestamps_error(two_files).what()).find("more than one file"),
            std::string::npos);
}

}  // namespace
}  // namespace amanuensis::service
