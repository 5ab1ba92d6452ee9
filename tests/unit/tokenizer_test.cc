#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {
namespace {

Tokenizer tiny_vocabulary() {
  // Ids 0..3 text ("Ġ" is a space, "Ã" and "©" are the two bytes of "é"), then Whisper's specials.
  return Tokenizer({"Hello", "Ġworld", "Ã", "©", "<|endoftext|>", "<|startoftranscript|>", "<|en|>",
                    "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                    "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>"},
                   "test vocabulary");
}

TEST(TokenizerTest, FindsSpecialTokensByText) {
  const auto tokenizer = tiny_vocabulary();
  const auto& s = tokenizer.special();
  EXPECT_EQ(s.end_of_text, 4);
  EXPECT_EQ(s.start_of_transcript, 5);
  EXPECT_EQ(s.no_speech, 11);  // <|nocaptions|> stands in on older English-only vocabularies
  EXPECT_EQ(s.timestamp_begin, 13);
  EXPECT_EQ(tokenizer.language_token("en"), 6);
  EXPECT_EQ(tokenizer.language_token("xx"), std::nullopt);
  EXPECT_EQ(tokenizer.language_code(6), "en");
}

TEST(TokenizerTest, DecodesByteLevelTokensAndSkipsSpecials) {
  const auto tokenizer = tiny_vocabulary();
  const std::vector<int> tokens = {13, 0, 1, 2, 3, 4};
  EXPECT_EQ(tokenizer.decode(tokens), "Hello world\xC3\xA9");
  // A lone lead byte is not UTF-8: it becomes one replacement character.
  const std::vector<int> broken = {2, 0};
  EXPECT_EQ(tokenizer.decode(broken), "\xEF\xBF\xBDHello");
}

TEST(TokenizerTest, RejectsAVocabularyWithoutWhisperSpecials) {
  try {
    Tokenizer({"a", "b"}, "vocabulary.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a Whisper vocabulary"), std::string::npos);
  }
}

TEST(TokenizerTest, NumbersSpecialsDifferentlyInEnglishAndMultilingualModels) {
  const std::filesystem::path models = AMANUENSIS_MODELS_DIR;
  if (!std::filesystem::exists(models / "base")) GTEST_SKIP() << "run scripts/setup.sh first";
  const auto english = Tokenizer::load(models / "tiny.en");
  const auto multilingual = Tokenizer::load(models / "base");
  EXPECT_EQ(english.special().end_of_text, 50256);
  EXPECT_EQ(english.special().timestamp_begin, 50363);
  EXPECT_EQ(multilingual.special().end_of_text, 50257);
  EXPECT_EQ(multilingual.special().timestamp_begin, 50364);
  EXPECT_EQ(multilingual.language_token("de"), 50261);
}

TEST(TokenizerTest, MissingVocabularyIsAClearError) {
  try {
    (void)Tokenizer::load("/nonexistent-model-dir");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary not found"), std::string::npos);
  }
}

}  // namespace
}  // namespace amanuensis::model
