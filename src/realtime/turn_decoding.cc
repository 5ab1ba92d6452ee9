#include "realtime/turn_decoding.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

namespace amanuensis::realtime {

namespace {

// Earlier transcripts kept for the prompt, as a multiple of the characters one prompt takes.
constexpr std::size_t kHistoryFactor = 4;

// The words of a decode: the model's timed words (with their probabilities) when it made them,
// else the text split at spaces.
std::vector<HypothesisWord> hypothesis_words(const std::vector<Segment>& segments) {
  std::vector<HypothesisWord> words;
  for (const auto& segment : segments) {
    if (!segment.words.empty()) {
      for (const auto& w : segment.words) words.push_back({w.word, w.probability});
    } else {
      auto split = split_words(segment.text);
      words.insert(words.end(), std::make_move_iterator(split.begin()),
                   std::make_move_iterator(split.end()));
    }
  }
  return words;
}

std::string trim_leading_space(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  text.erase(0, first == std::string::npos ? text.size() : first);
  return text;
}

// Appends words to what the turn has sent; returns their text (the turn's first text without
// its leading space, as OpenAI's transcripts begin) and their log-probabilities in `logprobs`.
std::string append_words(LiveTurn& turn, const std::vector<HypothesisWord>& words,
                         bool with_logprobs, std::vector<TokenLogprob>& logprobs) {
  std::string text;
  for (const auto& word : words) {
    std::string piece =
        turn.sent.empty() && text.empty() ? trim_leading_space(word.text) : word.text;
    if (with_logprobs) {
      const double p = std::max(static_cast<double>(word.probability.value_or(1.0F)), 1e-10);
      logprobs.push_back(
          {piece, std::log(p), std::vector<std::uint8_t>(piece.begin(), piece.end())});
    }
    text += piece;
  }
  turn.sent += text;
  turn.sent_logprobs.insert(turn.sent_logprobs.end(), logprobs.begin(), logprobs.end());
  return text;
}

// The last `chars` bytes of `text`, from a word's start (or at least a character's).
std::string tail_of(const std::string& text, std::size_t chars) {
  if (text.size() <= chars) return trim_leading_space(text);
  std::size_t from = text.size() - chars;
  const auto space = text.find(' ', from);
  if (space != std::string::npos) {
    from = space;
  } else {
    while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0U) == 0x80U) ++from;
  }
  return trim_leading_space(text.substr(from));
}

}  // namespace

TurnDecoder::TurnDecoder(DecodeFunction decode, Executor executor, LiveCallbacks callbacks)
    : decode_(std::move(decode)),
      executor_(std::move(executor)),
      callbacks_(std::move(callbacks)) {}

bool TurnDecoder::try_partial(const std::shared_ptr<DecodeJob>& job) {
  {
    const std::lock_guard lock(mutex_);
    if (running_) return false;
    running_ = job;
  }
  post(job);
  return true;
}

void TurnDecoder::speculate(const std::shared_ptr<DecodeJob>& job) {
  bool start = false;
  {
    const std::lock_guard lock(mutex_);
    job->turn->candidate = job;
    start = submit_locked(job);
  }
  if (start) post(job);
}

void TurnDecoder::drop_candidate(LiveTurn& turn) {
  const std::lock_guard lock(mutex_);
  if (!turn.candidate) return;
  turn.candidate->stop.request_stop();
  unqueue_locked(turn.candidate);
  turn.candidate.reset();
}

void TurnDecoder::close_turn(LiveTurn& turn) {
  const std::lock_guard lock(mutex_);
  turn.ended = true;
  if (running_ && running_->kind == JobKind::kPartial) running_->stop.request_stop();
}

void TurnDecoder::end_turn(const std::shared_ptr<DecodeJob>& job, bool use_candidate) {
  bool start = false;
  {
    const std::lock_guard lock(mutex_);
    auto candidate = std::exchange(job->turn->candidate, nullptr);
    queued_samples_ += job->queued_samples;
    if (use_candidate && candidate && candidate->result) {
      // Decoded already: the transcript needs no decode, only its turn in the queue.
      job->result = std::move(candidate->result);
      job->audio = {};
    } else if (use_candidate && candidate && !candidate->finished) {
      // Still running or waiting: it becomes the final decode, in the same place.
      candidate->kind = JobKind::kFinal;
      candidate->turn_samples = job->turn_samples;
      candidate->queued_samples = job->queued_samples;
      return;
    } else if (candidate) {
      candidate->stop.request_stop();
      unqueue_locked(candidate);
    }
    start = submit_locked(job);
  }
  if (start) post(job);
}

void TurnDecoder::cancel_turn(LiveTurn& turn) {
  const std::lock_guard lock(mutex_);
  turn.cancelled = true;
  if (running_ && running_->turn.get() == &turn) running_->stop.request_stop();
  if (turn.candidate) unqueue_locked(turn.candidate);
  turn.candidate.reset();
}

// Queues a final decode or a candidate (a running partial is stopped: it would only delay them);
// true when it is to be posted now.
bool TurnDecoder::submit_locked(const std::shared_ptr<DecodeJob>& job) {
  if (!running_) {
    running_ = job;
    return true;
  }
  if (running_->kind == JobKind::kPartial) running_->stop.request_stop();
  queue_.push_back(job);
  return false;
}

void TurnDecoder::unqueue_locked(const std::shared_ptr<DecodeJob>& job) { std::erase(queue_, job); }

void TurnDecoder::post(const std::shared_ptr<DecodeJob>& job) {
  try {
    executor_([self = shared_from_this(), job] { self->run(job); });
  } catch (const std::exception& e) {
    // The executor refused the task (a full pool): a final decode fails, the queue goes on.
    bool final = false;
    {
      const std::lock_guard lock(mutex_);
      job->finished = true;
      final = job->kind == JobKind::kFinal;
    }
    if (final) {
      emit([&](const LiveCallbacks& c) {
        if (c.on_failed) c.on_failed(job->turn->item, std::string("not scheduled: ") + e.what());
      });
    }
    next(*job);
  }
}

TurnDecoder::Outcome TurnDecoder::decode(DecodeJob& job) {
  Outcome outcome;
  if (job.result) {
    outcome.segments = std::move(job.result);
    return outcome;
  }
  TranscribeOptions options = job.options;
  {
    const std::lock_guard lock(mutex_);
    options.initial_prompt = prompt_for(job);
  }
  const std::stop_callback link(stop_.get_token(), [&job] { job.stop.request_stop(); });
  if (job.stop.stop_requested()) return outcome;
  try {
    outcome.segments = decode_(job.audio, options, job.stop.get_token());
  } catch (const Cancelled&) {
  } catch (const std::exception& e) {
    outcome.error = e.what();
  }
  return outcome;
}

void TurnDecoder::run(const std::shared_ptr<DecodeJob>& job) {
  Outcome outcome = decode(*job);
  JobKind kind = JobKind::kPartial;
  bool stopped = false;
  {
    // A candidate may have become a final decode meanwhile: the kind is read once it is done.
    const std::lock_guard lock(mutex_);
    job->finished = true;
    kind = job->kind;
    stopped = job->stop.stop_requested();
    if (kind == JobKind::kCandidate && !stopped) job->result = outcome.segments;
  }
  if (kind == JobKind::kFinal && outcome.segments) {
    complete(*job, *outcome.segments);
  } else if (kind == JobKind::kFinal && !outcome.error.empty()) {
    emit([&](const LiveCallbacks& c) {
      if (c.on_failed) c.on_failed(job->turn->item, outcome.error);
    });
  } else if (kind == JobKind::kPartial && outcome.segments && !stopped) {
    confirm(*job, *outcome.segments);
  }
  next(*job);
}

// Starts the next queued decode, or marks the decoder idle. Runs after the finished job's
// callbacks, so that events keep turn order.
void TurnDecoder::next(const DecodeJob& done) {
  std::shared_ptr<DecodeJob> job;
  {
    const std::lock_guard lock(mutex_);
    queued_samples_ -= done.queued_samples;
    running_.reset();
    if (stop_.stop_requested()) queue_.clear();
    if (queue_.empty()) {
      idle_.notify_all();
      return;
    }
    job = std::move(queue_.front());
    queue_.pop_front();
    running_ = job;
  }
  post(job);
}

void TurnDecoder::confirm(DecodeJob& job, const std::vector<Segment>& segments) {
  // Under emit_mutex_ from the check on: a turn closed after it still gets its delta before its
  // committed event, never after.
  emit([&](const LiveCallbacks& c) {
    std::string delta;
    std::vector<TokenLogprob> logprobs;
    {
      const std::lock_guard lock(mutex_);
      if (job.turn->cancelled || job.turn->ended) return;
      const auto newly = job.turn->agreement.update(hypothesis_words(segments));
      delta = append_words(*job.turn, newly, job.logprobs, logprobs);
    }
    if (delta.empty() || !c.on_delta) return;
    Logprobs delta_logprobs;
    if (job.logprobs) delta_logprobs = std::move(logprobs);
    c.on_delta(job.turn->item, delta, delta_logprobs);
  });
}

void TurnDecoder::complete(DecodeJob& job, const std::vector<Segment>& segments) {
  std::string transcript;
  Logprobs logprobs;
  {
    const std::lock_guard lock(mutex_);
    if (job.turn->cancelled) return;
    std::vector<TokenLogprob> tail_logprobs;
    const auto tail = job.turn->agreement.tail(hypothesis_words(segments));
    append_words(*job.turn, tail, job.logprobs, tail_logprobs);
    transcript = job.turn->sent;
    if (job.logprobs) logprobs = job.turn->sent_logprobs;
    if (!transcript.empty()) {
      history_ += (history_.empty() ? "" : " ") + transcript;
      const std::size_t keep = std::max<std::size_t>(job.previous_text_chars, 1) * kHistoryFactor;
      if (history_.size() > keep) history_ = tail_of(history_, keep);
    }
  }
  const double seconds = static_cast<double>(job.turn_samples) / kSampleRate;
  emit([&](const LiveCallbacks& c) {
    if (c.on_completed) c.on_completed(job.turn->item, transcript, logprobs, seconds);
  });
}

// The session's prompt followed by the end of the turns transcribed before, as Whisper's
// condition_on_previous_text feeds each window the text before it: a short turn then keeps the
// conversation's spelling and casing instead of starting afresh.
std::string TurnDecoder::prompt_for(const DecodeJob& job) const {
  const std::string& base = job.options.initial_prompt;
  if (job.previous_text_chars == 0 || history_.empty()) return base;
  const std::string previous = tail_of(history_, job.previous_text_chars);
  return base.empty() ? previous : base + " " + previous;
}

void TurnDecoder::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !running_; });
}

void TurnDecoder::close() {
  stop_.request_stop();
  const std::lock_guard lock(emit_mutex_);
  closed_ = true;
}

std::int64_t TurnDecoder::queued_samples() {
  const std::lock_guard lock(mutex_);
  return queued_samples_;
}

}  // namespace amanuensis::realtime
