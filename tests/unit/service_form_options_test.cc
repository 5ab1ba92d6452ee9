// Form fields to TranscribeOptions: OpenAI's names and semantics, faster-whisper's extras, and a
// 400 naming the field for every bad value.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "service/api_error.h"
#include "service/form_options.h"

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
  EXPECT_TRUE(request.vad_filter);
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
  EXPECT_EQ(error_of(form({{"model", "whisper-2"}})).code(), "model_not_found");
}

}  // namespace
}  // namespace amanuensis::service
