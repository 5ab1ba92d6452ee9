#include "decoding/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>

#include "amanuensis/amanuensis.h"
#include "kernels/vector_ops.h"

namespace amanuensis::decoding {

namespace {

constexpr float kForbidden = -std::numeric_limits<float>::infinity();

// log(sum(exp(row))), as max + log(sum(exp(row - max))); the exponentials are vectorised.
float log_sum_exp(std::span<const float> row) {
  const float max_logit = kernels::max_value(row.data(), row.size());
  const double total = kernels::sum_exp(row.data(), row.size(), max_logit);
  return static_cast<float>(std::log(total)) + max_logit;
}

// In-place log-softmax; returns nothing since the caller reads the row back.
void log_softmax(std::span<float> row) {
  const float log_total = log_sum_exp(row);
  for (float& v : row) v -= log_total;
}

float softmax_probability(std::span<const float> logits, int token) {
  const float max_logit = kernels::max_value(logits.data(), logits.size());
  const double total = kernels::sum_exp(logits.data(), logits.size(), max_logit);
  return static_cast<float>(std::exp(static_cast<double>(logits[token] - max_logit)) / total);
}

double final_score(double sum_logprob, std::size_t length, float length_penalty) {
  return sum_logprob / std::pow(static_cast<double>(length), length_penalty);
}

struct Hypothesis {
  std::vector<int> tokens;
  double sum_logprob = 0.0;
  std::vector<float> logprobs;  // each token's (0 for the forced prefix)
  KeywordMatch match;           // with keywords: where it stands in their trie
  double bias = 0.0;            // the keyword bonuses it holds (not in sum_logprob)
};

// Ranked by the model's log-probability plus the bonuses of the keywords it completed.
DecodeResult best_of(std::vector<Hypothesis>& finished, float length_penalty,
                     float no_speech_prob) {
  const auto best =
      std::max_element(finished.begin(), finished.end(), [&](const auto& a, const auto& b) {
        return final_score(a.sum_logprob + a.bias, a.tokens.size(), length_penalty) <
               final_score(b.sum_logprob + b.bias, b.tokens.size(), length_penalty);
      });
  DecodeResult result;
  result.tokens = std::move(best->tokens);
  result.token_logprobs = std::move(best->logprobs);
  result.sum_logprob = best->sum_logprob;
  result.avg_logprob = result.sum_logprob / static_cast<double>(result.tokens.size() + 1);
  result.no_speech_prob = no_speech_prob;
  return result;
}

// CTranslate2's NoRepeatNgram: every token that would complete an n-gram already present in
// `sampled` (the n - 1 last tokens followed by it somewhere earlier) is forbidden.
void forbid_repeated_ngrams(std::span<const int> sampled, int n, std::span<float> logits) {
  const auto size = static_cast<std::size_t>(n);
  if (size == 0 || sampled.size() < size) return;
  const auto current = sampled.last(size - 1);
  std::set<int> banned;
  for (auto it = sampled.begin();; ++it) {
    it = std::search(it, sampled.end(), current.begin(), current.end());
    if (static_cast<std::size_t>(sampled.end() - it) < size) break;
    banned.insert(it[static_cast<std::ptrdiff_t>(size) - 1]);
  }
  for (const int token : banned) logits[token] = kForbidden;
}

struct Candidate {
  float score;
  int row;
  int token;
};

// Best first: higher score, then lower row, then lower token.
bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score ||
         (a.score == b.score && (a.row < b.row || (a.row == b.row && a.token < b.token)));
}

// Appends row r's best `count` candidates (in `better` order) to `out`, scoring token t as
// float(logits[t] - log_total + base) and skipping forbidden tokens. The best `count` of all rows
// are among the rows' best `count`, so merging these equals sorting every candidate, without
// materialising beams x vocabulary of them.
void best_of_row(std::span<const float> logits, float log_total, double base, int r, int count,
                 std::vector<Candidate>& out) {
  const auto first = static_cast<std::ptrdiff_t>(out.size());
  const float* data = logits.data();
  const std::size_t n = logits.size();
  int kept = 0;
  // Every allowed logit until `count` are kept (a forbidden one, -inf, is below the lowest
  // float); then only those not below the worst kept one's, which a vector scan finds: a lower
  // logit cannot score above it (the score is monotone in it).
  float floor = std::numeric_limits<float>::lowest();
  for (std::size_t t = kernels::find_at_least(data, 0, n, floor); t < n;
       t = kernels::find_at_least(data, t + 1, n, floor)) {
    const Candidate c{static_cast<float>(static_cast<double>(data[t] - log_total) + base), r,
                      static_cast<int>(t)};
    const auto begin = out.begin() + first;
    if (kept == count) {
      if (!(c.score > out.back().score)) continue;  // a tie goes to the earlier token
      out.pop_back();
      --kept;
    }
    out.insert(std::upper_bound(begin, out.end(), c, better), c);
    ++kept;
    if (kept == count) floor = data[out.back().token];
  }
}

// CTranslate2's BeamSearch: 2 x beam candidates per step, finished beams replaced from the
// spares, stop after round(beam x patience) hypotheses. With keywords, a beam's score also holds
// its keyword bonuses (Beam::bias), which rank candidates but stay out of the log-probabilities.
class BeamSearch final : public WindowSearch {
 public:
  BeamSearch(const model::WhisperModel& model,
             std::shared_ptr<const model::CrossAttentionCache> cross, const DecodeRequest& request,
             const SearchOptions& options)
      : WindowSearch(model, std::move(cross), request, options),
        max_finished_(static_cast<std::size_t>(std::lround(options.beam_size * options.patience))),
        keywords_(request.keywords && !request.keywords->empty() ? request.keywords.get()
                                                                 : nullptr) {}

 private:
  struct Beam {
    std::vector<int> tokens;
    double score = 0.0;           // sum of log-probabilities, plus bias
    std::vector<float> logprobs;  // each token's
    KeywordMatch match;
    double bias = 0.0;
  };

  void start(std::vector<float>& logits) override {
    beams_.assign(1, Beam{request_.forced, 0.0, std::vector<float>(request_.forced.size(), 0.0F),
                          KeywordMatch{}, 0.0});
    choose(logits);
  }

  void choose(std::vector<float>& logits) override;
  void add_candidates(std::span<float> row, int r, int count);
  void select(std::vector<int>& order, std::vector<Beam>& next, bool last_step);

  // Candidate c's beam after taking its token (the token left out when it is end-of-text).
  [[nodiscard]] Beam extend(const Candidate& c) const {
    const Beam& from = beams_[static_cast<std::size_t>(c.row)];
    const auto [match, change] = keywords_ != nullptr ? keywords_->step(from.match, c.token)
                                                      : std::pair{KeywordMatch{}, 0.0F};
    Beam beam{from.tokens, c.score, from.logprobs, match, from.bias + change};
    if (c.token != request_.end_of_text) {
      beam.tokens.push_back(c.token);
      beam.logprobs.push_back(static_cast<float>(c.score - from.score - change));
    }
    return beam;
  }

  // A finished hypothesis: the bonus of an unfinished keyword is taken back.
  static Hypothesis finished(Beam beam) {
    const double bias = beam.bias - beam.match.pending;
    return {std::move(beam.tokens), beam.score - beam.bias, std::move(beam.logprobs),
            KeywordMatch{}, bias};
  }

  DecodeResult best() override {
    if (finished_.empty()) {
      for (auto& beam : beams_) finished_.push_back(finished(std::move(beam)));
    }
    return best_of(finished_, options_.length_penalty, no_speech_prob_);
  }

  const std::size_t max_finished_;
  const KeywordTrie* keywords_;
  std::vector<Beam> beams_;
  std::vector<Hypothesis> finished_;
  std::vector<Candidate> candidates_;
  std::vector<std::pair<int, float>> boosts_;
};

// Row r's best `count` candidates. With keywords, the tokens that spell one further have their
// bonus added to their logits, and the beam's pending bonus is taken off its base score, so that
// each candidate is scored as KeywordTrie::step says; the log-sum is the model's.
void BeamSearch::add_candidates(std::span<float> row, int r, int count) {
  const Beam& beam = beams_[static_cast<std::size_t>(r)];
  const float log_total = log_sum_exp(row);
  double base = beam.score;
  if (keywords_ != nullptr) {
    keywords_->boosts(beam.match, boosts_);
    for (const auto& [token, boost] : boosts_) row[static_cast<std::size_t>(token)] += boost;
    base -= beam.match.pending;
  }
  best_of_row(row, log_total, base, r, count, candidates_);
}

void BeamSearch::choose(std::vector<float>& logits) {
  // Twice the beam, so that beams ending at this step can be replaced by live ones.
  const int n_candidates = 2 * options_.beam_size;
  const bool last_step = step_ + 1 == request_.max_new_tokens;
  const auto forced = request_.forced.size();
  candidates_.clear();
  for (std::size_t r = 0; r < beams_.size(); ++r) {
    const std::span<float> row(logits.data() + r * n_vocab_, static_cast<std::size_t>(n_vocab_));
    const auto& tokens = beams_[r].tokens;
    constrain(request_, tokens, tokens.size() - forced, row);
    add_candidates(row, static_cast<int>(r), n_candidates);
  }
  const auto top = std::min<std::size_t>(n_candidates, candidates_.size());
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(top),
                    candidates_.end(), better);
  candidates_.resize(top);

  std::vector<int> order;
  std::vector<Beam> next;
  select(order, next, last_step);
  if (last_step || finished_.size() >= max_finished_ || next.empty()) {
    finish();
    return;
  }
  beams_ = std::move(next);
  state_.reorder(order);
  ++step_;
}

// Takes the best beam_size candidates: those ending become hypotheses, each replaced by the best
// spare candidate that goes on.
void BeamSearch::select(std::vector<int>& order, std::vector<Beam>& next, bool last_step) {
  next_tokens_.clear();
  const auto kept = std::min<std::size_t>(options_.beam_size, candidates_.size());
  std::size_t spare = kept;
  for (std::size_t k = 0; k < kept; ++k) {
    auto chosen = candidates_[k];
    if (chosen.token == request_.end_of_text || last_step) {
      finished_.push_back(finished(extend(chosen)));
      while (spare < candidates_.size() && candidates_[spare].token == request_.end_of_text) {
        ++spare;
      }
      if (spare == candidates_.size()) continue;
      chosen = candidates_[spare++];
    }
    order.push_back(chosen.row);
    next_tokens_.push_back(chosen.token);
    next.push_back(extend(chosen));
  }
}

// Draws `samples` independent continuations (the arg-max one at temperature 0) and keeps the
// best by length-normalised log-probability.
class Sampler final : public WindowSearch {
 public:
  Sampler(const model::WhisperModel& model, std::shared_ptr<const model::CrossAttentionCache> cross,
          const DecodeRequest& request, const SearchOptions& options, std::mt19937_64& random)
      : WindowSearch(model, std::move(cross), request, options),
        samples_(options.temperature > 0.0F ? options.samples : 1),
        random_(random),
        weights_(static_cast<std::size_t>(n_vocab_)),
        keywords_(request.keywords && !request.keywords->empty() ? request.keywords.get()
                                                                 : nullptr) {}

 private:
  void start(std::vector<float>& logits) override {
    if (samples_ > 1) {
      // Every sample starts from the same prompt: share its computation, then fan out.
      const std::vector<float> first = logits;
      logits.clear();
      for (int s = 0; s < samples_; ++s) logits.insert(logits.end(), first.begin(), first.end());
      state_.reorder(std::vector<int>(samples_, 0));
    }
    live_.assign(samples_,
                 Hypothesis{request_.forced, 0.0, std::vector<float>(request_.forced.size(), 0.0F),
                            KeywordMatch{}, 0.0});
    choose(logits);
  }

  void choose(std::vector<float>& logits) override;
  int draw(std::span<float> row);
  int sample(std::span<const float> row);
  static int arg_max(std::span<const float> row) {
    return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
  }
  int draw_with_keywords(Hypothesis& hypothesis, std::span<float> row, float& logprob);

  DecodeResult best() override {
    return best_of(finished_, options_.length_penalty, no_speech_prob_);
  }

  const int samples_;
  std::mt19937_64& random_;
  std::vector<double> weights_;
  const KeywordTrie* keywords_;
  std::vector<std::pair<int, float>> boosts_;
  std::vector<Hypothesis> live_;
  std::vector<Hypothesis> finished_;
};

// Picks row's token (sampled at the temperature, else the arg-max) and turns the row into
// log-probabilities.
int Sampler::draw(std::span<float> row) {
  if (options_.temperature > 0.0F) {
    const int token = sample(row);
    log_softmax(row);
    return token;
  }
  log_softmax(row);
  return arg_max(row);
}

// A token drawn from softmax(row / temperature).
int Sampler::sample(std::span<const float> row) {
  const float max_logit = *std::max_element(row.begin(), row.end());
  for (int t = 0; t < n_vocab_; ++t) {
    weights_[t] = std::exp(static_cast<double>(row[t] - max_logit) / options_.temperature);
  }
  return std::discrete_distribution<int>(weights_.begin(), weights_.end())(random_);
}

// With keywords: the token is drawn (or taken as the arg-max) from the row with the boosts of
// the hypothesis's match added; the pending bonus taken back from every other token moves them
// all alike, which changes no choice. `logprob` gets the token's log-probability under the
// model, the hypothesis its new match and bias.
int Sampler::draw_with_keywords(Hypothesis& hypothesis, std::span<float> row, float& logprob) {
  const float log_total = log_sum_exp(row);
  keywords_->boosts(hypothesis.match, boosts_);
  for (const auto& [token, boost] : boosts_) row[static_cast<std::size_t>(token)] += boost;
  const int token = options_.temperature > 0.0F ? sample(row) : arg_max(row);
  float logit = row[static_cast<std::size_t>(token)];
  for (const auto& [t, boost] : boosts_) logit -= t == token ? boost : 0.0F;
  logprob = logit - log_total;
  const auto [match, change] = keywords_->step(hypothesis.match, token);
  hypothesis.match = match;
  hypothesis.bias += change;
  return token;
}

void Sampler::choose(std::vector<float>& logits) {
  const auto forced = request_.forced.size();
  std::vector<int> keep;
  next_tokens_.clear();
  for (std::size_t r = 0; r < live_.size(); ++r) {
    const std::span<float> row(logits.data() + r * n_vocab_, static_cast<std::size_t>(n_vocab_));
    auto& hypothesis = live_[r];
    constrain(request_, hypothesis.tokens, hypothesis.tokens.size() - forced, row);
    float logprob = 0.0F;
    int token = 0;
    if (keywords_ != nullptr) {
      token = draw_with_keywords(hypothesis, row, logprob);
    } else {
      token = draw(row);
      logprob = row[token];
    }
    hypothesis.sum_logprob += logprob;
    const bool ended = token == request_.end_of_text;
    if (!ended) {
      hypothesis.tokens.push_back(token);
      hypothesis.logprobs.push_back(logprob);
    }
    if (ended || step_ + 1 == request_.max_new_tokens) {
      hypothesis.bias -= hypothesis.match.pending;  // an unfinished keyword earns nothing
      hypothesis.match = {};
      finished_.push_back(std::move(hypothesis));
    } else {
      keep.push_back(static_cast<int>(r));
      next_tokens_.push_back(token);
    }
  }
  if (keep.empty()) {
    finish();
    return;
  }
  std::vector<Hypothesis> still_live;
  still_live.reserve(keep.size());
  for (const int r : keep) still_live.push_back(std::move(live_[r]));
  live_ = std::move(still_live);
  state_.reorder(keep);
  ++step_;
}

}  // namespace

void constrain(const DecodeRequest& request, std::span<const int> sampled, std::size_t free,
               std::span<float> logits) {
  const auto chosen = sampled.last(std::min(free, sampled.size()));
  if (request.repetition_penalty != 1.0F) {
    const float penalty = request.repetition_penalty;
    for (const int token : chosen) {
      float& logit = logits[token];
      logit = logit < 0.0F ? logit * penalty : logit / penalty;
    }
  }
  if (request.no_repeat_ngram_size > 0)
    forbid_repeated_ngrams(chosen, request.no_repeat_ngram_size, logits);
  for (const int token : request.suppressed) logits[token] = kForbidden;
  if (sampled.empty()) {
    for (const int token : request.suppressed_first) logits[token] = kForbidden;
  }
  if (request.timestamp_rules) request.timestamp_rules->apply(sampled, logits);
}

WindowSearch::WindowSearch(const model::WhisperModel& model,
                           std::shared_ptr<const model::CrossAttentionCache> cross,
                           const DecodeRequest& request, const SearchOptions& options)
    : model_(model),
      request_(request),
      options_(options),
      n_vocab_(model.weights().n_vocab),
      state_(model.start_decoding(std::move(cross))) {
  if (request.max_new_tokens <= 0)
    throw Error("no room left in the decoder context for new tokens");
  // A forced prefix is fed with the prompt; the search then continues after it.
  fed_ = request.prompt;
  fed_.insert(fed_.end(), request.forced.begin(), request.forced.end());
  const auto fed_length = static_cast<int>(fed_.size());
  if (request.prompt.empty() || fed_length >= model.weights().n_text_ctx) {
    throw Error("prompt of " + std::to_string(fed_length) +
                " tokens does not fit the decoder context");
  }
}

std::unique_ptr<WindowSearch> WindowSearch::create(
    const model::WhisperModel& model, std::shared_ptr<const model::CrossAttentionCache> cross,
    const DecodeRequest& request, const SearchOptions& options, std::mt19937_64& random) {
  if (options.temperature == 0.0F && options.beam_size > 1) {
    return std::make_unique<BeamSearch>(model, std::move(cross), request, options);
  }
  return std::make_unique<Sampler>(model, std::move(cross), request, options, random);
}

model::DecodeStep WindowSearch::next_step() {
  if (!prompt_fed_) {
    // The first step feeds the prompt; its outputs are the start-of-transcript row (for the
    // no-speech probability) and the last row (the first token's logits).
    rows_ = {request_.start_of_transcript_index, static_cast<int>(fed_.size()) - 1};
    return {&state_, fed_, rows_, nullptr, std::move(spare_logits_)};
  }
  rows_.resize(next_tokens_.size());
  std::iota(rows_.begin(), rows_.end(), 0);
  // The last step's logits vector goes back out, so that filling it allocates nothing.
  return {&state_, next_tokens_, rows_, nullptr, std::move(spare_logits_)};
}

void WindowSearch::advance(std::vector<float> logits) {
  if (prompt_fed_) {
    choose(logits);
  } else {
    prompt_fed_ = true;
    no_speech_prob_ = softmax_probability({logits.data(), static_cast<std::size_t>(n_vocab_)},
                                          request_.no_speech_token);
    logits.erase(logits.begin(), logits.begin() + n_vocab_);
    start(logits);
  }
  spare_logits_ = std::move(logits);
}

DecodeResult WindowSearch::result() {
  if (!done_) throw Error("window search read before it finished");
  return best();
}

DecodeResult decode_window(model::DecodeBatcher& decoder,
                           const std::shared_ptr<const model::CrossAttentionCache>& cross,
                           const DecodeRequest& request, const SearchOptions& options,
                           std::mt19937_64& random, const std::stop_token& stop) {
  const auto search = WindowSearch::create(decoder.model(), cross, request, options, random);
  // Open for the whole search: its steps follow one another with only token choice between.
  model::DecodeBatcher::Session session(decoder, stop);
  while (!search->done()) {
    auto step = search->next_step();
    session.decode_together({&step, 1});
    search->advance(std::move(step.logits));
  }
  return search->result();
}

std::vector<DecodeResult> decode_windows(
    model::DecodeBatcher& decoder,
    std::span<const std::shared_ptr<const model::CrossAttentionCache>> crosses,
    std::span<const DecodeRequest> requests, const SearchOptions& options, std::mt19937_64& random,
    const std::stop_token& stop) {
  if (crosses.size() != requests.size())
    throw Error("decode_windows: one request per window is needed");
  std::vector<std::unique_ptr<WindowSearch>> searches;
  searches.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    searches.push_back(
        WindowSearch::create(decoder.model(), crosses[i], requests[i], options, random));
  }
  model::DecodeBatcher::Session session(decoder, stop);
  std::vector<model::DecodeStep> steps;
  std::vector<WindowSearch*> stepping;
  while (true) {
    steps.clear();
    stepping.clear();
    for (const auto& search : searches) {
      if (search->done()) continue;
      steps.push_back(search->next_step());
      stepping.push_back(search.get());
    }
    if (steps.empty()) break;
    session.decode_together(steps);
    for (std::size_t i = 0; i < steps.size(); ++i) stepping[i]->advance(std::move(steps[i].logits));
  }
  std::vector<DecodeResult> results;
  results.reserve(searches.size());
  for (const auto& search : searches) results.push_back(search->result());
  return results;
}

}  // namespace amanuensis::decoding
