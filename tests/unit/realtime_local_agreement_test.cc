// LocalAgreement-2: words confirmed once two successive hypotheses agree, never taken back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "realtime/local_agreement.h"

namespace amanuensis::realtime {
namespace {

std::vector<std::string> texts(const std::vector<HypothesisWord>& words) {
  std::vector<std::string> out;
  for (const auto& w : words) out.push_back(w.text);
  return out;
}

using Texts = std::vector<std::string>;

TEST(LocalAgreementTest, SplitsWordsKeepingLeadingSpaces) {
  EXPECT_EQ(texts(split_words(" Hello, world.  Again")), (Texts{" Hello,", " world.", "  Again"}));
  EXPECT_EQ(texts(split_words("")), Texts{});
  EXPECT_EQ(texts(split_words("   ")), Texts{});
  // Scripts without spaces: a character each.
  EXPECT_EQ(texts(split_words(" 你好世界")), (Texts{" 你", "好", "世", "界"}));
  EXPECT_EQ(texts(split_words("caf\xc3\xa9 ok")), (Texts{"caf\xc3\xa9", " ok"}));
}

TEST(LocalAgreementTest, ComparesWithoutCaseAndPunctuation) {
  EXPECT_EQ(comparable(" Hello,"), "hello");
  EXPECT_EQ(comparable("hello"), comparable(" HELLO!"));
  EXPECT_NE(comparable("hello"), comparable("help"));
}

TEST(LocalAgreementTest, ConfirmsTheCommonPrefixOfTheLastTwo) {
  LocalAgreement la;
  EXPECT_TRUE(la.update(split_words(" The quick")).empty());  // nothing to agree with yet
  EXPECT_EQ(texts(la.update(split_words(" the quick brown"))), (Texts{" the", " quick"}));
  EXPECT_TRUE(la.update(split_words(" The quick brawn fox")).empty());  // brown/brawn differ
  EXPECT_EQ(texts(la.update(split_words(" The quick brawn fox jumps"))), (Texts{" brawn", " fox"}));
  EXPECT_EQ(la.confirmed(), 4U);
}

TEST(LocalAgreementTest, NeverRetractsAndTailFollowsTheConfirmedWords) {
  LocalAgreement la;
  la.update(split_words(" One two three"));
  la.update(split_words(" One two three four"));
  ASSERT_EQ(la.confirmed(), 3U);
  // The decoder changes its mind about confirmed words: they stand, nothing new is confirmed.
  EXPECT_TRUE(la.update(split_words(" Won too three four five")).empty());
  EXPECT_EQ(texts(la.confirmed_words()), (Texts{" One", " two", " three"}));
  EXPECT_EQ(texts(la.tail(split_words(" One two three four five."))), (Texts{" four", " five."}));
  EXPECT_EQ(texts(la.tail(split_words(" One two"))), Texts{});
  la.reset();
  EXPECT_EQ(la.confirmed(), 0U);
}

TEST(LocalAgreementTest, EmitsTheNewestSpelling) {
  LocalAgreement la;
  la.update(split_words(" hello world"));
  EXPECT_EQ(texts(la.update(split_words(" Hello, world."))), (Texts{" Hello,", " world."}));
}

}  // namespace
}  // namespace amanuensis::realtime
