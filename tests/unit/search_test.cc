// The window search as a state machine, fed hand-made logits: greedy choice, beam search finding
// what greedy misses, patience and length normalisation, the no-speech probability, suppression,
// and CTranslate2's repetition penalty and no-repeat n-grams.
#include "decoding/search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/whisper_model.h"
#include "support/search_fixture.h"

namespace amanuensis::decoding {
namespace {

constexpr int kEnd = test_support::kSearchEnd;
constexpr int kNoSpeech = test_support::kSearchNoSpeech;
constexpr float kLow = test_support::kSearchLow;

model::WhisperModel tiny_model() { return test_support::tiny_search_model(); }

DecodeRequest request(int max_new_tokens = 10) {
  DecodeRequest r;
  r.prompt = {5};
  r.end_of_text = kEnd;
  r.no_speech_token = kNoSpeech;
  r.max_new_tokens = max_new_tokens;
  return r;
}

std::vector<float> row(std::initializer_list<std::pair<int, float>> likely) {
  return test_support::logit_row(likely);
}

// Drives a search: `next(tokens_so_far)` gives each sequence's next logits row.
template <typename Next>
DecodeResult drive(WindowSearch& search, std::vector<float> first_rows, Next next) {
  auto step = search.next_step();
  EXPECT_EQ(step.positions.size(), 2U);  // the start-of-transcript row and the last prompt row
  search.advance(std::move(first_rows));
  std::vector<std::vector<int>> fed(1);
  while (!search.done()) {
    step = search.next_step();
    std::vector<float> logits;
    for (const int token : step.tokens) {
      const auto r = next(token);
      logits.insert(logits.end(), r.begin(), r.end());
    }
    search.advance(std::move(logits));
  }
  return search.result();
}

std::vector<float> concat(const std::vector<float>& a, const std::vector<float>& b) {
  auto out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

TEST(WindowSearchTest, GreedyTakesTheLikeliestTokenUntilTheEnd) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  const auto r = request();
  auto search = WindowSearch::create(model, nullptr, r, {.beam_size = 1}, random);
  const auto result =
      drive(*search, concat(row({{kNoSpeech, 2.0F}, {1, 2.0F}}), row({{1, 3.0F}, {2, 1.0F}})),
            [](int token) {
              if (token == 1) return row({{3, 2.0F}});
              return row({{kEnd, 2.0F}});
            });
  EXPECT_EQ(result.tokens, (std::vector<int>{1, 3}));
  // The no-speech probability is the softmax of the first row at the no-speech token.
  const double expected_no_speech = std::exp(2.0) / (2 * std::exp(2.0) + 6 * std::exp(kLow));
  EXPECT_NEAR(result.no_speech_prob, expected_no_speech, 1e-5);
  // Three choices (1, 3, end), each nearly certain but token 1 (e^3 against e^1).
  const double first = 3.0 - std::log(std::exp(3.0) + std::exp(1.0) + 6 * std::exp(kLow));
  EXPECT_NEAR(result.sum_logprob, first, 1e-4);
  EXPECT_NEAR(result.avg_logprob, result.sum_logprob / 3, 1e-9);
  // Each token's own log-probability (the end-of-text's is in the sum only).
  ASSERT_EQ(result.token_logprobs.size(), 2U);
  EXPECT_NEAR(result.token_logprobs[0], first, 1e-4);
  EXPECT_NEAR(result.token_logprobs[1], 2.0 - std::log(std::exp(2.0) + 7 * std::exp(kLow)), 1e-4);
}

TEST(WindowSearchTest, BeamSearchFindsTheSequenceGreedyMisses) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  const auto r = request();
  // Token 1 looks best first but leads to a coin toss among four; token 2 leads to a sure end.
  const auto next = [](int token) {
    if (token == 1) return row({{3, 0.0F}, {4, 0.0F}, {0, 0.0F}, {5, 0.0F}});
    if (token == 2) return row({{kEnd, 5.0F}});
    return row({{kEnd, 5.0F}});
  };
  const auto first = concat(row({}), row({{1, 1.0F}, {2, 0.8F}}));
  auto greedy = WindowSearch::create(model, nullptr, r, {.beam_size = 1}, random);
  EXPECT_EQ(drive(*greedy, first, next).tokens.front(), 1);
  auto beam = WindowSearch::create(model, nullptr, r, {.beam_size = 2}, random);
  const auto result = drive(*beam, first, next);
  EXPECT_EQ(result.tokens, (std::vector<int>{2}));
  // The kept beam's token carries its own log-probability, not its beam's running score.
  ASSERT_EQ(result.token_logprobs.size(), 1U);
  EXPECT_NEAR(result.token_logprobs[0],
              0.8 - std::log(std::exp(1.0) + std::exp(0.8) + 6 * std::exp(kLow)), 1e-4);
}

TEST(WindowSearchTest, LengthPenaltyZeroRanksBySumNotAverage) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  const auto r = request();
  // One beam ends at once (a single likely token), the other runs three tokens, each also
  // likely: by average the long one wins, by sum (length_penalty 0) the short one.
  const auto next = [](int token) {
    if (token == 1) return row({{kEnd, 0.0F}, {3, -0.1F}});
    if (token == 3) return row({{4, 10.0F}});
    return row({{kEnd, 10.0F}});
  };
  const auto first = concat(row({}), row({{1, 0.0F}, {2, -0.05F}}));
  auto by_average =
      WindowSearch::create(model, nullptr, r, {.beam_size = 2, .patience = 2.0F}, random);
  const auto average = drive(*by_average, first, next);
  auto by_sum = WindowSearch::create(
      model, nullptr, r, {.beam_size = 2, .patience = 2.0F, .length_penalty = 0.0F}, random);
  const auto sum = drive(*by_sum, first, next);
  EXPECT_GT(average.tokens.size(), sum.tokens.size());
}

TEST(WindowSearchTest, MaxNewTokensEndsTheSearch) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  const auto r = request(/*max_new_tokens=*/3);
  for (const int beam : {1, 3}) {
    auto search = WindowSearch::create(model, nullptr, r, {.beam_size = beam}, random);
    const auto result = drive(*search, concat(row({}), row({{1, 1.0F}})), [](int) {
      return row({{1, 1.0F}, {2, 0.5F}});
    });
    EXPECT_EQ(result.tokens.size(), 3U) << "beam " << beam;
  }
}

TEST(ConstrainTest, SuppressesTokensAndFirstTokens) {
  auto r = request();
  r.suppressed = {2};
  r.suppressed_first = {3};
  auto logits = row({{2, 1.0F}, {3, 1.0F}, {4, 1.0F}});
  constrain(r, {}, 0, logits);
  EXPECT_TRUE(std::isinf(logits[2]) && logits[2] < 0);
  EXPECT_TRUE(std::isinf(logits[3]) && logits[3] < 0);
  EXPECT_EQ(logits[4], 1.0F);
  auto later = row({{3, 1.0F}});
  const std::vector<int> sampled = {4};
  constrain(r, sampled, 1, later);
  EXPECT_EQ(later[3], 1.0F);  // only the first token is kept from suppressed_first
}

TEST(ConstrainTest, RepetitionPenaltyScalesOnlyChosenTokens) {
  auto r = request();
  r.repetition_penalty = 2.0F;
  auto logits = row({{1, 4.0F}, {2, -4.0F}, {3, 4.0F}});
  // Token 3 was forced (a prefix), tokens 1 and 2 chosen by the search.
  const std::vector<int> sampled = {3, 1, 2};
  constrain(r, sampled, 2, logits);
  EXPECT_EQ(logits[1], 2.0F);   // positive: divided
  EXPECT_EQ(logits[2], -8.0F);  // negative: multiplied
  EXPECT_EQ(logits[3], 4.0F);   // the forced prefix is not penalised
}

TEST(ConstrainTest, NoRepeatNgramForbidsCompletingARepeatedNgram) {
  auto r = request();
  r.no_repeat_ngram_size = 3;
  // "1 2 3 ... 1 2": 3 would repeat the trigram 1 2 3; 4 would not.
  const std::vector<int> sampled = {1, 2, 3, 4, 1, 2};
  auto logits = row({{3, 1.0F}, {4, 1.0F}});
  constrain(r, sampled, sampled.size(), logits);
  EXPECT_TRUE(std::isinf(logits[3]));
  EXPECT_EQ(logits[4], 1.0F);
  // Too few tokens for an n-gram: nothing is forbidden.
  auto early = row({{1, 1.0F}});
  const std::vector<int> short_sequence = {1};
  constrain(r, short_sequence, 1, early);
  EXPECT_EQ(early[1], 1.0F);
}

TEST(WindowSearchTest, NoRepeatNgramStopsALoop) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  auto r = request(/*max_new_tokens=*/12);
  r.no_repeat_ngram_size = 2;
  // The model wants to say "1 2 1 2 1 2 ...", then ends when it can't.
  const auto next = [](int token) {
    if (token == 1) return row({{2, 5.0F}, {kEnd, 0.0F}});
    return row({{1, 5.0F}, {kEnd, 0.0F}});
  };
  auto search = WindowSearch::create(model, nullptr, r, {.beam_size = 1}, random);
  const auto result = drive(*search, concat(row({}), row({{1, 5.0F}})), next);
  EXPECT_EQ(result.tokens, (std::vector<int>{1, 2, 1}));
}

TEST(WindowSearchTest, RejectsAPromptThatFillsTheContext) {
  const auto model = tiny_model();
  std::mt19937_64 random(0);
  auto r = request();
  r.prompt.assign(64, 5);
  EXPECT_THROW((void)WindowSearch::create(model, nullptr, r, {}, random), Error);
  auto no_room = request(0);
  EXPECT_THROW((void)WindowSearch::create(model, nullptr, no_room, {}, random), Error);
}

}  // namespace
}  // namespace amanuensis::decoding
