#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "amanuensis/amanuensis.h"
#include "model/vocabulary_files.h"

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
    EXPECT_NE(std::string(e.what()).find("/nonexistent-model-dir: model folder or file not found"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace amanuensis::model

namespace amanuensis::model {
namespace {

// Expected ids come from the Hugging Face `tokenizers` library on the same tokenizer.json.
TEST(TokenizerTest, EncodesLikeTheReferenceBytePairEncoder) {
  const std::filesystem::path dir = AMANUENSIS_MODELS_DIR "/base";
  if (!std::filesystem::exists(dir / "tokenizer.json"))
    GTEST_SKIP() << "run scripts/setup.sh first";
  const auto tokenizer = Tokenizer::load(dir);
  const std::vector<std::pair<std::string, std::vector<int>>> cases = {
      {" Hello world", {2425, 1002}},
      {" JFK, inaugural address, 1961.", {40951, 42, 11, 48741, 2985, 11, 41720, 13}},
      {"  It's the  end\n", {220, 467, 311, 264, 220, 917, 198}},
      {" Gr\xC3\xBC\xC3\x9F"
       "e aus K\xC3\xB6ln!",
       {38908, 11451, 3437, 591, 13072, 77, 0}},
      {" \xE6\x9D\xB1\xE4\xBA\xAC\xE3\x82\xBF\xE3\x83\xAF\xE3\x83\xBC",
       {220, 18413, 31375, 12144, 39613, 3384}},
      {" x  ", {2031, 220, 220}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tokenizer.encode(text), ids) << text;
    EXPECT_EQ(tokenizer.decode(ids), text);
  }
}

// A ggml model stores no merges: ranking pairs by the id of the token they make, as tiktoken
// does, must encode exactly as the merges of tokenizer.json.
TEST(TokenizerTest, WithoutMergesEncodesAsWithThem) {
  const std::filesystem::path dir = AMANUENSIS_MODELS_DIR "/base";
  if (!std::filesystem::exists(dir / "tokenizer.json"))
    GTEST_SKIP() << "run scripts/setup.sh first";
  const auto with_merges = Tokenizer::load(dir);
  const auto vocabulary = read_ct2_vocabulary(dir);
  const Tokenizer without_merges(vocabulary.tokens, "test");
  for (const std::string text :
       {" Hello world", " JFK, inaugural address, 1961.", "  It's the  end\n",
        " Gr\xC3\xBC\xC3\x9F"
        "e aus K\xC3\xB6ln!",
        " Gutenberg's woodcutters engraved clubs",
        " \xE6\x9D\xB1\xE4\xBA\xAC\xE3\x82\xBF\xE3\x83\xAF\xE3\x83\xBC",
        " antidisestablishmentarianism, 12345678 ?! !!"}) {
    EXPECT_EQ(without_merges.encode(text), with_merges.encode(text)) << text;
  }
}

}  // namespace
}  // namespace amanuensis::model
