// Weighted keywords: the trie's bonus and take-back (KeywordTrie::step), its logit boosts agreeing
// with step() for every token, parse_keywords, and the search choosing a keyword's spelling only
// when it is complete, while reporting the model's own log-probabilities.
#include "decoding/keyword_bias.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/search.h"
#include "model/whisper_model.h"
#include "support/search_fixture.h"

namespace amanuensis::decoding {
namespace {

constexpr float kBonus = kKeywordBonus;

TEST(KeywordTrieTest, CompleteKeywordKeepsItsBonusAndAnAbandonedOneGivesItBack) {
  KeywordTrie trie;
  trie.add(std::vector<int>{1, 2, 3}, 1.0F);
  ASSERT_FALSE(trie.empty());
  auto [m1, c1] = trie.step({}, 1);
  EXPECT_FLOAT_EQ(c1, kBonus);
  EXPECT_FLOAT_EQ(m1.pending, kBonus);
  auto [m2, c2] = trie.step(m1, 2);
  EXPECT_FLOAT_EQ(c2, kBonus);
  EXPECT_FLOAT_EQ(m2.pending, 2 * kBonus);
  // Completed: the bonus stays, nothing is pending, back at the root.
  auto [m3, c3] = trie.step(m2, 3);
  EXPECT_FLOAT_EQ(c3, kBonus);
  EXPECT_EQ(m3.node, 0);
  EXPECT_FLOAT_EQ(m3.pending, 0.0F);
  // Abandoned after two tokens: both bonuses are taken back.
  auto [gone, taken] = trie.step(m2, 5);
  EXPECT_FLOAT_EQ(taken, -2 * kBonus);
  EXPECT_EQ(gone.node, 0);
  // Abandoned for a token that starts the keyword again: back, then one bonus.
  auto [again, change] = trie.step(m2, 1);
  EXPECT_FLOAT_EQ(change, -2 * kBonus + kBonus);
  EXPECT_FLOAT_EQ(again.pending, kBonus);
  // Outside any keyword, other tokens change nothing.
  EXPECT_FLOAT_EQ(trie.step({}, 4).second, 0.0F);
}

TEST(KeywordTrieTest, WeightScalesTheBonusAndSharedPrefixesTakeTheLargest) {
  KeywordTrie trie;
  trie.add(std::vector<int>{1, 2}, 2.0F);
  trie.add(std::vector<int>{1, 3}, 0.5F);
  trie.add(std::vector<int>{4}, 3.0F);
  const auto [m, c] = trie.step({}, 1);
  EXPECT_FLOAT_EQ(c, 2 * kBonus);  // the prefix both share earns the larger weight's bonus
  EXPECT_FLOAT_EQ(trie.step(m, 3).second, 0.5F * kBonus);
  // A one-token keyword completes at once.
  const auto [single, gain] = trie.step({}, 4);
  EXPECT_FLOAT_EQ(gain, 3 * kBonus);
  EXPECT_FLOAT_EQ(single.pending, 0.0F);
}

// boosts() is what the search adds to logits: with the pending bonus taken off the base score,
// every token's score must change exactly as step() says, on random tries.
TEST(KeywordTrieTest, BoostsAgreeWithStepForEveryToken) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> token(0, 9);
  std::uniform_int_distribution<int> length(1, 4);
  for (int trial = 0; trial < 50; ++trial) {
    KeywordTrie trie;
    for (int k = 0; k < 4; ++k) {
      std::vector<int> tokens(static_cast<std::size_t>(length(random)));
      for (auto& t : tokens) t = token(random);
      trie.add(tokens, 0.5F + static_cast<float>(k));
    }
    KeywordMatch match;
    std::vector<std::pair<int, float>> boosts;
    for (int step = 0; step < 12; ++step) {
      trie.boosts(match, boosts);
      std::map<int, float> boost(boosts.begin(), boosts.end());
      ASSERT_EQ(boost.size(), boosts.size()) << "a token listed twice";
      for (int t = 0; t < 10; ++t) {
        const float expected = (boost.contains(t) ? boost[t] : 0.0F) - match.pending;
        ASSERT_NEAR(trie.step(match, t).second, expected, 1e-5) << "token " << t;
      }
      match = trie.step(match, token(random)).first;
    }
  }
}

TEST(ParseKeywordsTest, WeightsDefaultsAndErrors) {
  const auto keywords = parse_keywords(" Gutenberg:2 , Caxton,New York:0.5");
  ASSERT_EQ(keywords.size(), 3U);
  EXPECT_EQ(keywords[0].text, "Gutenberg");
  EXPECT_FLOAT_EQ(keywords[0].weight, 2.0F);
  EXPECT_EQ(keywords[1].text, "Caxton");
  EXPECT_FLOAT_EQ(keywords[1].weight, 1.0F);
  EXPECT_EQ(keywords[2].text, "New York");
  EXPECT_FLOAT_EQ(keywords[2].weight, 0.5F);
  EXPECT_TRUE(parse_keywords("").empty());
  for (const char* bad : {"a,,b", "a:0", "a:-1", "a:x", "a:11", ":2", "a:", "a:nan", "a,"}) {
    EXPECT_THROW(parse_keywords(bad), Error) << bad;
  }
  // A keyword made in code is held to the same bounds when transcription checks it.
  EXPECT_NO_THROW(validate(Keyword{"a", 10.0F}));
  EXPECT_THROW(validate(Keyword{"a", 0.0F}), Error);
  EXPECT_THROW(validate(Keyword{"a", 10.5F}), Error);
  EXPECT_THROW(validate(Keyword{"", 1.0F}), Error);
}

// The search, on hand-made logits over a vocabulary of 8 (as search_test.cc).
constexpr int kEnd = test_support::kSearchEnd;
constexpr float kLow = test_support::kSearchLow;

std::vector<float> row(std::initializer_list<std::pair<int, float>> likely) {
  return test_support::logit_row(likely);
}

// First token: 3 (logit 1) or 1 (logit 0.2); after 1 comes 2 or 4 (2 likelier when `two_first`),
// then the end; after 3, the end.
DecodeResult run(const std::shared_ptr<const KeywordTrie>& keywords, int beam, bool two_first) {
  const auto model = test_support::tiny_search_model();
  std::mt19937_64 random(0);
  DecodeRequest r;
  r.prompt = {5};
  r.end_of_text = kEnd;
  r.no_speech_token = 6;
  r.max_new_tokens = 10;
  r.keywords = keywords;
  auto search = WindowSearch::create(model, nullptr, r, {.beam_size = beam}, random);
  auto first = row({});
  const auto start = row({{3, 1.0F}, {1, 0.2F}});
  first.insert(first.end(), start.begin(), start.end());
  [[maybe_unused]] const auto prompt = search->next_step();
  search->advance(first);
  std::vector<int> last;
  while (!search->done()) {
    const auto step = search->next_step();
    std::vector<float> logits;
    for (const int token : step.tokens) {
      const auto next =
          token == 1 ? (two_first ? row({{2, 1.0F}, {4, 0.0F}}) : row({{4, 1.0F}, {2, 0.0F}}))
                     : row({{kEnd, 5.0F}});
      logits.insert(logits.end(), next.begin(), next.end());
    }
    search->advance(std::move(logits));
  }
  return search->result();
}

TEST(KeywordSearchTest, AKeywordWinsOnlyWhenItsSpellingIsComplete) {
  auto keyword = std::make_shared<KeywordTrie>();
  keyword->add(std::vector<int>{1, 2}, 1.0F);
  for (const int beam : {1, 3}) {
    SCOPED_TRACE(testing::Message() << "beam " << beam);
    EXPECT_EQ(run(nullptr, beam, true).tokens, (std::vector<int>{3}));
    const auto biased = run(keyword, beam, true);
    EXPECT_EQ(biased.tokens, (std::vector<int>{1, 2}));
    // The reported log-probabilities are the model's, without the bonuses.
    const double lp1 = 0.2 - std::log(std::exp(1.0) + std::exp(0.2) + 6 * std::exp(kLow));
    const double lp2 = 1.0 - std::log(std::exp(1.0) + 1.0 + 6 * std::exp(kLow));
    ASSERT_EQ(biased.token_logprobs.size(), 2U);
    EXPECT_NEAR(biased.token_logprobs[0], lp1, 1e-4);
    EXPECT_NEAR(biased.token_logprobs[1], lp2, 1e-4);
    EXPECT_NEAR(biased.sum_logprob, lp1 + lp2, 1e-3);  // plus the end's, about 0
  }
  // Beam search, keyword 1 4 6 where the model ends after 1 4: the keyword is abandoned at the
  // end and its bonus taken back, so the path through 1 earns nothing and 3 wins again (kept,
  // the two bonuses would have carried 1 4).
  auto unfinished = std::make_shared<KeywordTrie>();
  unfinished->add(std::vector<int>{1, 4, 6}, 1.0F);
  EXPECT_EQ(run(unfinished, 3, false).tokens, (std::vector<int>{3}));
}

}  // namespace
}  // namespace amanuensis::decoding
