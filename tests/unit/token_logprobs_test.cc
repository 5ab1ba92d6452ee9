// TokenLogprobCursor: each segment cut from a window's decode takes its own text tokens'
// log-probabilities, timestamps left out, raw bytes kept for tokens that split a character.
#include "decoding/token_logprobs.h"

#include <gtest/gtest.h>

#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/tokenizer.h"

namespace amanuensis::decoding {
namespace {

model::Tokenizer tiny_vocabulary() {
  // Ids 0..3 text ("Ġ" is a space, "Ã" and "©" are the two bytes of "é"), then Whisper's specials
  // (13 is the first timestamp).
  return model::Tokenizer(
      {"Hello", "Ġworld", "Ã", "©", "<|endoftext|>", "<|startoftranscript|>", "<|en|>",
       "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
       "<|notimestamps|>", "<|0.00|>", "<|0.02|>", "<|0.04|>"},
      "test vocabulary");
}

TEST(TokenLogprobs, EachSegmentTakesItsOwnTextTokens) {
  const auto tokenizer = tiny_vocabulary();
  DecodeResult window;
  window.tokens = {13, 0, 1, 14, 14, 2, 3, 15};
  window.token_logprobs = {-0.5F, -0.1F, -0.2F, -0.6F, -0.7F, -0.3F, -0.4F, -0.8F};
  TokenLogprobCursor cursor(tokenizer, window);

  const std::vector<int> first = {13, 0, 1, 14};
  const auto a = cursor.next(first);
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[0].token, "Hello");
  EXPECT_FLOAT_EQ(a[0].logprob, -0.1F);
  EXPECT_EQ(a[1].bytes, " world");
  EXPECT_FLOAT_EQ(a[1].logprob, -0.2F);

  const std::vector<int> second = {14, 2, 3, 15};
  const auto b = cursor.next(second);
  ASSERT_EQ(b.size(), 2U);
  // Half a character each: the bytes as they are, the text repaired.
  EXPECT_EQ(b[0].bytes, "\xC3");
  EXPECT_EQ(b[0].token, "\xEF\xBF\xBD");
  EXPECT_EQ(b[1].bytes, "\xA9");
  EXPECT_FLOAT_EQ(b[1].logprob, -0.4F);
}

TEST(TokenLogprobs, ASegmentNotInTheWindowIsAnError) {
  const auto tokenizer = tiny_vocabulary();
  DecodeResult window;
  window.tokens = {13, 0, 14};
  window.token_logprobs = {-0.5F, -0.1F, -0.6F};
  TokenLogprobCursor cursor(tokenizer, window);
  const std::vector<int> elsewhere = {13, 1, 14};
  EXPECT_THROW((void)cursor.next(elsewhere), Error);
}

}  // namespace
}  // namespace amanuensis::decoding
