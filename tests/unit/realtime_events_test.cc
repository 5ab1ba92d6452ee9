// Client events parsed and checked (GA and beta forms, every error with its code and param) and
// the server events' JSON. With $AMANUENSIS_REALTIME_DUMP set, RealtimeServerEventsTest writes
// one of every server event to that file, one per line, for tests/unit/realtime_sdk_check.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "realtime/events.h"
#include "realtime/server_events.h"

namespace amanuensis::realtime {
namespace {

using nlohmann::json;

ClientEvent parse_ok(const std::string& text) {
  auto result = parse_client_event(text);
  if (auto* e = std::get_if<EventError>(&result)) {
    ADD_FAILURE() << text << ": " << e->code << " " << e->message;
    return CommitEvent{};
  }
  return std::get<ClientEvent>(result);
}

EventError parse_error(const std::string& text) {
  auto result = parse_client_event(text);
  if (auto* e = std::get_if<EventError>(&result)) return *e;
  ADD_FAILURE() << text << " parsed without error";
  return {};
}

TEST(RealtimeClientEventsTest, GaSessionUpdate) {
  const auto event = parse_ok(R"({"type": "session.update", "event_id": "e1", "session": {
      "type": "transcription",
      "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                          "transcription": {"model": "whisper-1", "language": "en", "prompt": "Names",
                                            "keywords": ["Caxton", "Gutenberg:2"]},
                          "turn_detection": {"type": "server_vad", "threshold": 0.6,
                                             "prefix_padding_ms": 200, "silence_duration_ms": 700},
                          "noise_reduction": null}},
      "include": ["item.input_audio_transcription.logprobs"]}})");
  const auto& update = std::get<SessionUpdateEvent>(event);
  EXPECT_EQ(update.event_id, "e1");
  EXPECT_FALSE(update.beta);
  SessionConfig config;
  update.update.apply_to(config);
  EXPECT_EQ(config.format, AudioFormat::kPcm16At24k);
  EXPECT_EQ(config.model, "whisper-1");
  EXPECT_EQ(config.language, "en");
  EXPECT_EQ(config.prompt, "Names");
  ASSERT_EQ(config.keywords.size(), 2U);
  EXPECT_EQ(config.keywords[0].text, "Caxton");
  EXPECT_FLOAT_EQ(config.keywords[1].weight, 2.0F);
  ASSERT_TRUE(config.turn_detection.has_value());
  EXPECT_FLOAT_EQ(config.turn_detection->threshold, 0.6F);
  EXPECT_EQ(config.turn_detection->prefix_padding_ms, 200);
  EXPECT_EQ(config.turn_detection->silence_duration_ms, 700);
  EXPECT_TRUE(config.logprobs);
}

TEST(RealtimeClientEventsTest, PartialUpdatesKeepTheRest) {
  SessionConfig config;
  config.language = "de";
  std::get<SessionUpdateEvent>(
      parse_ok(R"({"type": "session.update", "session": {"type": "transcription",
      "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": null}}}})"))
      .update.apply_to(config);
  EXPECT_EQ(config.format, AudioFormat::kPcmu);
  EXPECT_FALSE(config.turn_detection.has_value());
  EXPECT_EQ(config.language, "de");
  EXPECT_FALSE(config.logprobs);
}

TEST(RealtimeClientEventsTest, BetaSessionUpdate) {
  const auto event = parse_ok(R"({"type": "transcription_session.update", "session": {
      "input_audio_format": "g711_alaw",
      "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "fr"},
      "turn_detection": {"type": "server_vad"}, "input_audio_noise_reduction": null,
      "modalities": ["text"], "include": []}})");
  const auto& update = std::get<SessionUpdateEvent>(event);
  EXPECT_TRUE(update.beta);
  SessionConfig config;
  config.turn_detection.reset();
  config.logprobs = true;
  update.update.apply_to(config);
  EXPECT_EQ(config.format, AudioFormat::kPcma);
  EXPECT_EQ(config.model, "gpt-4o-transcribe");
  EXPECT_EQ(config.language, "fr");
  EXPECT_EQ(config.turn_detection, TurnDetectorOptions{});
  EXPECT_FALSE(config.logprobs);
}

TEST(RealtimeClientEventsTest, AudioEvents) {
  const auto append =
      std::get<AppendEvent>(parse_ok(R"({"type": "input_audio_buffer.append", "audio": "AAEC"})"));
  EXPECT_EQ(append.audio, (std::vector<std::uint8_t>{0, 1, 2}));
  EXPECT_FALSE(append.event_id.has_value());
  EXPECT_TRUE(
      std::holds_alternative<CommitEvent>(parse_ok(R"({"type": "input_audio_buffer.commit"})")));
  EXPECT_TRUE(std::holds_alternative<ClearEvent>(
      parse_ok(R"({"type": "input_audio_buffer.clear", "event_id": "x"})")));
}

TEST(RealtimeClientEventsTest, ErrorsNameCodeAndParam) {
  struct Case {
    const char* text;
    const char* code;
    const char* param;
  };
  const Case cases[] = {
      {"{", "invalid_json", ""},
      {"[1]", "invalid_event", ""},
      {R"({"event_id": "e"})", "missing_parameter", "type"},
      {R"({"type": 5})", "invalid_type", "type"},
      {R"({"type": "nope"})", "unknown_event", "type"},
      {R"({"type": "response.create"})", "unsupported_event", "type"},
      {R"({"type": "input_audio_buffer.append"})", "missing_parameter", "audio"},
      {R"({"type": "input_audio_buffer.append", "audio": "AB$="})", "invalid_audio", "audio"},
      {R"({"type": "input_audio_buffer.append", "audio": "AAE"})", "invalid_audio", "audio"},
      {R"({"type": "input_audio_buffer.append", "audio": 12})", "invalid_type", "audio"},
      {R"({"type": "input_audio_buffer.commit", "extra": 1})", "unknown_parameter", "extra"},
      {R"({"type": "session.update"})", "missing_parameter", "session"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"transcription":
          {"keywords": "Caxton"}}}}})",
       "invalid_type", "session.audio.input.transcription.keywords"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"transcription":
          {"keywords": ["clubs:0"]}}}}})",
       "invalid_value", "session.audio.input.transcription.keywords"},
      {R"({"type": "session.update", "session": {"type": "realtime"}})", "unsupported_value",
       "session.type"},
      {R"({"type": "session.update", "session": {"instructions": "x"}})", "unknown_parameter",
       "session.instructions"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}})",
       "unsupported_value", "session.audio.input.format.rate"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/opus"}}}}})",
       "unsupported_value", "session.audio.input.format.type"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}})",
       "unsupported_value", "session.audio.input.turn_detection.type"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}}}})",
       "invalid_value", "session.audio.input.turn_detection.threshold"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 1.5}}}}})",
       "invalid_type", "session.audio.input.turn_detection.silence_duration_ms"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}})",
       "unsupported_value", "session.audio.input.noise_reduction"},
      {R"({"type": "session.update", "session": {"audio": {"input": {"transcription": {"language": "English"}}}}})",
       "invalid_value", "session.audio.input.transcription.language"},
      {R"({"type": "session.update", "session": {"include": ["item.input_audio_transcription.segments"]}})",
       "unsupported_value", "session.include"},
      {R"({"type": "session.update", "session": {"audio": {"output": {}}}})", "unknown_parameter",
       "session.audio.output"},
      {R"({"type": "transcription_session.update", "session": {"input_audio_format": "pcm24"}})",
       "unsupported_value", "session.input_audio_format"},
  };
  for (const auto& c : cases) {
    const auto error = parse_error(c.text);
    EXPECT_EQ(error.code, c.code) << c.text << ": " << error.message;
    EXPECT_EQ(error.param, c.param) << c.text;
    EXPECT_FALSE(error.message.empty());
    EXPECT_EQ(error.type, "invalid_request_error");
  }
  EXPECT_EQ(parse_error(R"({"type": "nope", "event_id": "abc"})").event_id, "abc");
  ParseLimits small;
  small.max_event_bytes = 10;
  EXPECT_EQ(
      std::get<EventError>(parse_client_event(R"({"type": "input_audio_buffer.commit"})", small))
          .code,
      "event_too_large");
}

// One of every server event, in every configuration that changes its shape.
std::vector<std::string> every_server_event() {
  SessionConfig config;
  SessionConfig other;
  other.format = AudioFormat::kPcma;
  other.language = "en";
  other.prompt = "Hi";
  other.keywords = {{"Caxton", 1.0F}, {"Gutenberg", 2.5F}};
  other.turn_detection.reset();
  other.logprobs = true;
  const Logprobs logprobs = std::vector<TokenLogprob>{{"Hello", -0.25, {72, 101, 108, 108, 111}}};
  EventError error{"invalid_value", "bad", "session.type", "e1"};
  return {session_event("session.created", "sess_1", config),
          session_event("session.updated", "sess_1", other),
          beta_session_updated("sess_1", config),
          beta_session_updated("sess_1", other),
          speech_started_event("item_1", 120),
          speech_stopped_event("item_1", 2400),
          committed_event("item_1", ""),
          committed_event("item_2", "item_1"),
          cleared_event(),
          delta_event("item_1", "Hello", std::nullopt),
          delta_event("item_1", "Hello", logprobs),
          completed_event("item_1", "Hello there.", std::nullopt, 2.5),
          completed_event("item_1", "Hello", logprobs, 1.0),
          failed_event("item_1", "decoder failed"),
          error_event(error),
          error_event({"invalid_json", "not JSON", "", std::nullopt})};
}

TEST(RealtimeServerEventsTest, ShapesAndDump) {
  const auto events = every_server_event();
  for (const auto& text : events) {
    const auto event = json::parse(text);
    EXPECT_TRUE(event["type"].is_string());
    EXPECT_TRUE(event["event_id"].get<std::string>().starts_with("event_"));
  }
  const auto created = json::parse(events[0]);
  EXPECT_EQ(created["session"]["type"], "transcription");
  EXPECT_EQ(created["session"]["audio"]["input"]["format"],
            (json{{"type", "audio/pcm"}, {"rate", 24000}}));
  EXPECT_EQ(created["session"]["audio"]["input"]["turn_detection"]["type"], "server_vad");
  EXPECT_TRUE(json::parse(events[1])["session"]["audio"]["input"]["turn_detection"].is_null());
  const auto error = json::parse(events[14]);
  EXPECT_EQ(error["error"], (json{{"type", "invalid_request_error"},
                                  {"code", "invalid_value"},
                                  {"message", "bad"},
                                  {"param", "session.type"},
                                  {"event_id", "e1"}}));
  if (const char* dump = std::getenv("AMANUENSIS_REALTIME_DUMP")) {
    std::ofstream out(dump, std::ios::app);
    for (const auto& text : events) out << text << '\n';
  }
}

}  // namespace
}  // namespace amanuensis::realtime
