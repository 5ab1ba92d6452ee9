// The transcript writers on a hand-made transcription: text, JSON (and back), SRT, VTT with
// highlighted words, TSV, and OpenAI's verbose_json.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "formats/transcript_formats.h"

namespace amanuensis::formats {
namespace {

Transcription sample() {
  Transcription t;
  t.language = "en";
  t.language_probability = 0.75F;
  t.duration = 3725.5;
  t.duration_after_vad = 3000.25;
  Segment first;
  first.id = 1;
  first.start = 0.0;
  first.end = 2.5;
  first.text = " Hello there.";
  first.tokens = {1, 2, 3};
  first.words = {{0.0, 1.0, " Hello", 0.9F}, {1.0, 2.5, " there.", 0.8F}};
  Segment second;
  second.id = 2;
  second.start = 3723.004;
  second.end = 3725.5;
  second.text = " Tab\there";
  t.segments = {first, second};
  return t;
}

std::string write(OutputFormat format, const WriteOptions& options = {}) {
  std::ostringstream out;
  write_transcript(out, format, sample(), "clip.wav", options);
  return out.str();
}

TEST(FormatsTest, TextIsOneStrippedLinePerSegment) {
  EXPECT_EQ(write(OutputFormat::kText), "Hello there.\nTab\there\n");
}

TEST(FormatsTest, SrtNumbersCuesAndUsesCommaMilliseconds) {
  EXPECT_EQ(write(OutputFormat::kSrt),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
            "2\n01:02:03,004 --> 01:02:05,500\nTab\there\n\n");
}

TEST(FormatsTest, VttHighlightsEachWordInTurn) {
  const auto vtt = write(OutputFormat::kVtt, {.highlight_words = true});
  EXPECT_EQ(vtt,
            "WEBVTT\n\n"
            "00:00:00.000 --> 00:00:01.000\n<u>Hello</u> there.\n\n"
            "00:00:01.000 --> 00:00:02.500\nHello <u>there.</u>\n\n"
            "01:02:03.004 --> 01:02:05.500\nTab\there\n\n");
}

TEST(FormatsTest, TsvHasMillisecondsAndNoTabsInText) {
  EXPECT_EQ(write(OutputFormat::kTsv),
            "start\tend\ttext\n0\t2500\tHello there.\n"
            "3723004\t3725500\tTab here\n");
}

TEST(FormatsTest, JsonIsOneLineThatReadsBack) {
  const auto line = write(OutputFormat::kJson);
  ASSERT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["file"], "clip.wav");
  EXPECT_EQ(json["text"], " Hello there. Tab\there");
  EXPECT_DOUBLE_EQ(json["duration_after_vad"].get<double>(), 3000.25);
  EXPECT_EQ(json["segments"][0]["words"].size(), 2U);
  EXPECT_FALSE(json["segments"][1].contains("words"));

  auto with_logprobs = sample();
  with_logprobs.segments[0].logprobs = {{" Hello", " Hello", -0.25F},
                                        {"\xEF\xBF\xBD", "\xC3", -1.5F}};
  const auto back = transcription_from_json(transcription_json(with_logprobs));
  // A batch job's result keeps each segment's token logprobs, raw bytes included.
  ASSERT_EQ(back.segments[0].logprobs.size(), 2U);
  EXPECT_EQ(back.segments[0].logprobs[1].bytes, "\xC3");
  EXPECT_FLOAT_EQ(back.segments[0].logprobs[1].logprob, -1.5F);
  EXPECT_TRUE(back.segments[1].logprobs.empty());
  EXPECT_EQ(back.segments.size(), 2U);
  EXPECT_EQ(back.segments[0].words[1].word, " there.");
  EXPECT_DOUBLE_EQ(back.duration_after_vad, 3000.25);
  EXPECT_THROW((void)transcription_from_json(nlohmann::json::parse(R"({"language":"en"})")),
               nlohmann::json::exception);
}

TEST(FormatsTest, VerboseJsonNamesTheLanguageAndNumbersSegmentsFromZero) {
  const auto json = verbose_json(sample(), {.task = "translate", .segments = true, .words = true});
  EXPECT_EQ(json["task"], "translate");
  EXPECT_EQ(json["language"], "english");
  EXPECT_EQ(json["segments"][0]["id"], 0);
  EXPECT_EQ(json["words"].size(), 2U);
  EXPECT_EQ(json["text"], "Hello there. Tab\there");
  const auto plain = verbose_json(sample(), {.segments = false});
  EXPECT_FALSE(plain.contains("segments"));
  EXPECT_FALSE(plain.contains("words"));
}

TEST(FormatsTest, UnknownFormatIsAnError) {
  EXPECT_THROW((void)parse_output_format("docx"), Error);
  EXPECT_EQ(file_extension(parse_output_format("vtt")), "vtt");
}

}  // namespace
}  // namespace amanuensis::formats
