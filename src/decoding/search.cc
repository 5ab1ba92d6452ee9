#include "decoding/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "amanuensis/amanuensis.h"
#include "kernels/vector_ops.h"

namespace amanuensis::decoding {

namespace {

constexpr float kForbidden = -std::numeric_limits<float>::infinity();

// Applies the suppression lists and timestamp rules to one sequence's logits.
void constrain(const DecodeRequest& request, std::span<const int> sampled,
               std::span<float> logits) {
  for (const int token : request.suppressed) logits[token] = kForbidden;
  if (sampled.empty()) {
    for (const int token : request.suppressed_first) logits[token] = kForbidden;
  }
  if (request.timestamp_rules) request.timestamp_rules->apply(sampled, logits);
}

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
  result.sum_logprob = best->sum_logprob;
  result.avg_logprob = result.sum_logprob / static_cast<double>(result.tokens.size() + 1);
  result.no_speech_prob = no_speech_prob;
  return result;
}

// Feeds the prompt; returns the logits of the first token to choose and the no-speech
// probability read at the start-of-transcript position.
std::pair<std::vector<float>, float> feed_prompt(const model::WhisperModel& model,
                                                 model::DecodeBatcher::Session& session,
                                                 model::DecoderState& state,
                                                 const DecodeRequest& request) {
  const int n_vocab = model.weights().n_vocab;
  // A forced prefix is fed with the prompt; the search then continues after it.
  std::vector<int> fed = request.prompt;
  fed.insert(fed.end(), request.forced.begin(), request.forced.end());
  const auto fed_length = static_cast<int>(fed.size());
  if (request.prompt.empty() || fed_length >= model.weights().n_text_ctx) {
    throw Error("prompt of " + std::to_string(fed_length) +
                " tokens does not fit the decoder context");
  }
  const int positions[] = {request.start_of_transcript_index, fed_length - 1};
  auto logits = session.decode(state, fed, positions);
  const float no_speech = softmax_probability({logits.data(), static_cast<std::size_t>(n_vocab)},
                                              request.no_speech_token);
  logits.erase(logits.begin(), logits.begin() + n_vocab);
  return {std::move(logits), no_speech};
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
  int kept = 0;
  // A logit below the worst kept one's cannot score above it (the score is monotone in it).
  float worst_logit = kForbidden;
  for (int t = 0; t < static_cast<int>(logits.size()); ++t) {
    const float logit = logits[t];
    if (logit == kForbidden || (kept == count && logit < worst_logit)) continue;
    const Candidate c{static_cast<float>(static_cast<double>(logit - log_total) + base), r, t};
    const auto begin = out.begin() + first;
    if (kept == count) {
      if (!(c.score > out.back().score)) continue;  // a tie goes to the earlier token
      out.pop_back();
      --kept;
    }
    out.insert(std::upper_bound(begin, out.end(), c, better), c);
    ++kept;
    if (kept == count) {
      const Candidate& worst = out.back();
      worst_logit = logits[worst.token];
    }
  }
}

DecodeResult beam_search(const model::WhisperModel& model, model::DecodeBatcher::Session& session,
                         model::DecoderState& state, const DecodeRequest& request,
                         const SearchOptions& options) {
  const int n_vocab = model.weights().n_vocab;
  const int beam_size = options.beam_size;
  const auto max_finished = static_cast<std::size_t>(std::lround(beam_size * options.patience));
  // Twice the beam, so that beams ending at this step can be replaced by live ones.
  const int n_candidates = 2 * beam_size;

  auto [logits, no_speech] = feed_prompt(model, session, state, request);
  std::vector<std::vector<int>> beams(1, request.forced);
  std::vector<double> scores(1, 0.0);
  std::vector<Hypothesis> finished;
  std::vector<Candidate> candidates;
  candidates.reserve(static_cast<std::size_t>(beam_size) * n_candidates);

  for (int step = 0; step < request.max_new_tokens; ++step) {
    const bool last_step = step + 1 == request.max_new_tokens;
    candidates.clear();
    for (std::size_t r = 0; r < beams.size(); ++r) {
      const std::span<float> row(logits.data() + r * n_vocab, static_cast<std::size_t>(n_vocab));
      constrain(request, beams[r], row);
      best_of_row(row, log_sum_exp(row), scores[r], static_cast<int>(r), n_candidates, candidates);
    }
    const auto top = std::min<std::size_t>(n_candidates, candidates.size());
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(top),
                      candidates.end(), better);
    candidates.resize(top);

    std::vector<int> order;
    std::vector<int> next_tokens;
    std::vector<std::vector<int>> next_beams;
    std::vector<double> next_scores;
    std::size_t spare = std::min<std::size_t>(beam_size, candidates.size());
    for (std::size_t k = 0; k < std::min<std::size_t>(beam_size, candidates.size()); ++k) {
      auto chosen = candidates[k];
      if (chosen.token == request.end_of_text || last_step) {
        Hypothesis done{beams[chosen.row], chosen.score};
        if (chosen.token != request.end_of_text) done.tokens.push_back(chosen.token);
        finished.push_back(std::move(done));
        // Replace the finished beam with the best remaining candidate that goes on.
        while (spare < candidates.size() && candidates[spare].token == request.end_of_text) ++spare;
        if (spare == candidates.size()) continue;
        chosen = candidates[spare++];
      }
      order.push_back(chosen.row);
      next_tokens.push_back(chosen.token);
      auto tokens = beams[chosen.row];
      tokens.push_back(chosen.token);
      next_beams.push_back(std::move(tokens));
      next_scores.push_back(chosen.score);
    }
    if (last_step || finished.size() >= max_finished || next_beams.empty()) break;

    beams = std::move(next_beams);
    scores = std::move(next_scores);
    state.reorder(order);
    std::vector<int> rows(beams.size());
    std::iota(rows.begin(), rows.end(), 0);
    logits = session.decode(state, next_tokens, rows);
  }
  if (finished.empty()) {
    for (std::size_t r = 0; r < beams.size(); ++r) finished.push_back({beams[r], scores[r]});
  }
  return best_of(finished, options.length_penalty, no_speech);
}

// Draws `samples` independent continuations (the arg-max one at temperature 0) and keeps the
// best by length-normalised log-probability.
DecodeResult sample(const model::WhisperModel& model, model::DecodeBatcher::Session& session,
                    model::DecoderState& state, const DecodeRequest& request,
                    const SearchOptions& options, std::mt19937_64& random) {
  const int n_vocab = model.weights().n_vocab;
  const int samples = options.temperature > 0.0F ? options.samples : 1;
  auto [logits, no_speech] = feed_prompt(model, session, state, request);
  if (samples > 1) {
    // Every sample starts from the same prompt: share its computation, then fan out.
    const std::vector<float> first = logits;
    logits.clear();
    for (int s = 0; s < samples; ++s) logits.insert(logits.end(), first.begin(), first.end());
    state.reorder(std::vector<int>(samples, 0));
  }

  std::vector<Hypothesis> live(samples, Hypothesis{request.forced, 0.0});
  std::vector<Hypothesis> finished;
  std::vector<double> weights(n_vocab);
  for (int step = 0; step < request.max_new_tokens && !live.empty(); ++step) {
    std::vector<int> keep;
    std::vector<int> next_tokens;
    for (std::size_t r = 0; r < live.size(); ++r) {
      const std::span<float> row(logits.data() + r * n_vocab, static_cast<std::size_t>(n_vocab));
      constrain(request, live[r].tokens, row);
      int token = 0;
      if (options.temperature > 0.0F) {
        const float max_logit = *std::max_element(row.begin(), row.end());
        for (int t = 0; t < n_vocab; ++t) {
          weights[t] = std::exp(static_cast<double>(row[t] - max_logit) / options.temperature);
        }
        token = std::discrete_distribution<int>(weights.begin(), weights.end())(random);
        log_softmax(row);
      } else {
        log_softmax(row);
        token = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
      }
      live[r].sum_logprob += row[token];
      const bool ended = token == request.end_of_text;
      if (!ended) live[r].tokens.push_back(token);
      if (ended || step + 1 == request.max_new_tokens) {
        finished.push_back(std::move(live[r]));
      } else {
        keep.push_back(static_cast<int>(r));
        next_tokens.push_back(token);
      }
    }
    if (keep.empty()) break;
    std::vector<Hypothesis> still_live;
    for (const int r : keep) still_live.push_back(std::move(live[r]));
    live = std::move(still_live);
    state.reorder(keep);
    std::vector<int> rows(live.size());
    std::iota(rows.begin(), rows.end(), 0);
    logits = session.decode(state, next_tokens, rows);
  }
  return best_of(finished, options.length_penalty, no_speech);
}

}  // namespace

DecodeResult decode_window(model::DecodeBatcher& decoder,
                           const std::shared_ptr<const model::CrossAttentionCache>& cross,
                           const DecodeRequest& request, const SearchOptions& options,
                           std::mt19937_64& random, const std::stop_token& stop) {
  if (request.max_new_tokens <= 0)
    throw Error("no room left in the decoder context for new tokens");
  const auto& model = decoder.model();
  auto state = model.start_decoding(cross);
  // Open for the whole search: its steps follow one another with only token choice between.
  model::DecodeBatcher::Session session(decoder, stop);
  if (options.temperature == 0.0F && options.beam_size > 1) {
    return beam_search(model, session, state, request, options);
  }
  return sample(model, session, state, request, options, random);
}

}  // namespace amanuensis::decoding
