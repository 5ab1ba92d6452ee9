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
};

DecodeResult best_of(std::vector<Hypothesis>& finished, float length_penalty,
                     float no_speech_prob) {
  const auto best =
      std::max_element(finished.begin(), finished.end(), [&](const auto& a, const auto& b) {
        return final_score(a.sum_logprob, a.tokens.size(), length_penalty) <
               final_score(b.sum_logprob, b.tokens.size(), length_penalty);
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
// spares, stop after round(beam x patience) hypotheses.
class BeamSearch final : public WindowSearch {
 public:
  BeamSearch(const model::WhisperModel& model,
             std::shared_ptr<const model::CrossAttentionCache> cross, const DecodeRequest& request,
             const SearchOptions& options)
      : WindowSearch(model, std::move(cross), request, options),
        max_finished_(static_cast<std::size_t>(std::lround(options.beam_size * options.patience))) {
  }

 private:
  void start(std::vector<float>& logits) override {
    beams_.assign(1, request_.forced);
    scores_.assign(1, 0.0);
    logprobs_.assign(1, std::vector<float>(request_.forced.size(), 0.0F));
    choose(logits);
  }

  void choose(std::vector<float>& logits) override;
  void select(std::vector<int>& order, std::vector<std::vector<int>>& next_beams,
              std::vector<double>& next_scores, std::vector<std::vector<float>>& next_logprobs,
              bool last_step);

  // A candidate's token's own log-probability: its score less its beam's.
  [[nodiscard]] float token_logprob(const Candidate& c) const {
    return static_cast<float>(c.score - scores_[c.row]);
  }

  DecodeResult best() override {
    if (finished_.empty()) {
      for (std::size_t r = 0; r < beams_.size(); ++r)
        finished_.push_back({beams_[r], scores_[r], logprobs_[r]});
    }
    return best_of(finished_, options_.length_penalty, no_speech_prob_);
  }

  const std::size_t max_finished_;
  std::vector<std::vector<int>> beams_;
  std::vector<double> scores_;
  std::vector<std::vector<float>> logprobs_;  // each beam's tokens'
  std::vector<Hypothesis> finished_;
  std::vector<Candidate> candidates_;
};

void BeamSearch::choose(std::vector<float>& logits) {
  // Twice the beam, so that beams ending at this step can be replaced by live ones.
  const int n_candidates = 2 * options_.beam_size;
  const bool last_step = step_ + 1 == request_.max_new_tokens;
  const auto forced = request_.forced.size();
  candidates_.clear();
  for (std::size_t r = 0; r < beams_.size(); ++r) {
    const std::span<float> row(logits.data() + r * n_vocab_, static_cast<std::size_t>(n_vocab_));
    constrain(request_, beams_[r], beams_[r].size() - forced, row);
    best_of_row(row, log_sum_exp(row), scores_[r], static_cast<int>(r), n_candidates, candidates_);
  }
  const auto top = std::min<std::size_t>(n_candidates, candidates_.size());
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(top),
                    candidates_.end(), better);
  candidates_.resize(top);

  std::vector<int> order;
  std::vector<std::vector<int>> next_beams;
  std::vector<double> next_scores;
  std::vector<std::vector<float>> next_logprobs;
  select(order, next_beams, next_scores, next_logprobs, last_step);
  if (last_step || finished_.size() >= max_finished_ || next_beams.empty()) {
    finish();
    return;
  }
  beams_ = std::move(next_beams);
  scores_ = std::move(next_scores);
  logprobs_ = std::move(next_logprobs);
  state_.reorder(order);
  ++step_;
}

// Takes the best beam_size candidates: those ending become hypotheses, each replaced by the best
// spare candidate that goes on.
void BeamSearch::select(std::vector<int>& order, std::vector<std::vector<int>>& next_beams,
                        std::vector<double>& next_scores,
                        std::vector<std::vector<float>>& next_logprobs, bool last_step) {
  next_tokens_.clear();
  const auto kept = std::min<std::size_t>(options_.beam_size, candidates_.size());
  std::size_t spare = kept;
  for (std::size_t k = 0; k < kept; ++k) {
    auto chosen = candidates_[k];
    if (chosen.token == request_.end_of_text || last_step) {
      Hypothesis done{beams_[chosen.row], chosen.score, logprobs_[chosen.row]};
      if (chosen.token != request_.end_of_text) {
        done.tokens.push_back(chosen.token);
        done.logprobs.push_back(token_logprob(chosen));
      }
      finished_.push_back(std::move(done));
      while (spare < candidates_.size() && candidates_[spare].token == request_.end_of_text) {
        ++spare;
      }
      if (spare == candidates_.size()) continue;
      chosen = candidates_[spare++];
    }
    order.push_back(chosen.row);
    next_tokens_.push_back(chosen.token);
    auto tokens = beams_[chosen.row];
    tokens.push_back(chosen.token);
    next_beams.push_back(std::move(tokens));
    next_scores.push_back(chosen.score);
    auto logprobs = logprobs_[chosen.row];
    logprobs.push_back(token_logprob(chosen));
    next_logprobs.push_back(std::move(logprobs));
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
        weights_(static_cast<std::size_t>(n_vocab_)) {}

 private:
  void start(std::vector<float>& logits) override {
    if (samples_ > 1) {
      // Every sample starts from the same prompt: share its computation, then fan out.
      const std::vector<float> first = logits;
      logits.clear();
      for (int s = 0; s < samples_; ++s) logits.insert(logits.end(), first.begin(), first.end());
      state_.reorder(std::vector<int>(samples_, 0));
    }
    live_.assign(samples_, Hypothesis{request_.forced, 0.0,
                                      std::vector<float>(request_.forced.size(), 0.0F)});
    choose(logits);
  }

  void choose(std::vector<float>& logits) override;
  int draw(std::span<float> row);

  DecodeResult best() override {
    return best_of(finished_, options_.length_penalty, no_speech_prob_);
  }

  const int samples_;
  std::mt19937_64& random_;
  std::vector<double> weights_;
  std::vector<Hypothesis> live_;
  std::vector<Hypothesis> finished_;
};

// Picks row's token (sampled at the temperature, else the arg-max) and turns the row into
// log-probabilities.
int Sampler::draw(std::span<float> row) {
  if (options_.temperature > 0.0F) {
    const float max_logit = *std::max_element(row.begin(), row.end());
    for (int t = 0; t < n_vocab_; ++t) {
      weights_[t] = std::exp(static_cast<double>(row[t] - max_logit) / options_.temperature);
    }
    const int token = std::discrete_distribution<int>(weights_.begin(), weights_.end())(random_);
    log_softmax(row);
    return token;
  }
  log_softmax(row);
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

void Sampler::choose(std::vector<float>& logits) {
  const auto forced = request_.forced.size();
  std::vector<int> keep;
  next_tokens_.clear();
  for (std::size_t r = 0; r < live_.size(); ++r) {
    const std::span<float> row(logits.data() + r * n_vocab_, static_cast<std::size_t>(n_vocab_));
    auto& hypothesis = live_[r];
    constrain(request_, hypothesis.tokens, hypothesis.tokens.size() - forced, row);
    const int token = draw(row);
    hypothesis.sum_logprob += row[token];
    const bool ended = token == request_.end_of_text;
    if (!ended) {
      hypothesis.tokens.push_back(token);
      hypothesis.logprobs.push_back(row[token]);
    }
    if (ended || step_ + 1 == request_.max_new_tokens) {
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
