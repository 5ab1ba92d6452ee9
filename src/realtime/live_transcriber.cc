#include "realtime/live_transcriber.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>

#include "realtime/ids.h"
#include "realtime/local_agreement.h"

namespace amanuensis::realtime {

namespace {

constexpr std::int64_t kSamplesPerSecond = kSampleRate;
constexpr std::int64_t kSamplesPerMs = kSampleRate / 1000;
constexpr std::int64_t kMinCommitSamples = kSampleRate / 10;  // 100 ms, as OpenAI requires

std::int64_t seconds_to_samples(double seconds) {
  return static_cast<std::int64_t>(std::llround(seconds * kSamplesPerSecond));
}

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

}  // namespace

struct LiveTranscriber::Turn {
  std::string item;
  LocalAgreement agreement;
  std::string sent;  // the text of every delta so far
  std::vector<TokenLogprob> sent_logprobs;
  bool cancelled = false;  // cleared: no more events
};

namespace {

// One decode: of the open turn so far (partial) or of a whole ended turn (final).
struct Job {
  std::shared_ptr<LiveTranscriber::Turn> turn;
  std::vector<float> audio;
  TranscribeOptions options;
  bool final = false;
  bool logprobs = false;
};

// Appends words to what the turn has sent; returns their text (the turn's first text without
// its leading space, as OpenAI's transcripts begin) and their log-probabilities in `logprobs`.
std::string append_words(LiveTranscriber::Turn& turn, const std::vector<HypothesisWord>& words,
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

}  // namespace

struct LiveTranscriber::Shared {
  DecodeFunction decode;
  Executor executor;
  LiveCallbacks callbacks;
  std::stop_source stop;

  std::mutex mutex;  // guards what follows and every Turn's contents
  std::condition_variable idle;
  bool busy = false;                // a decode is posted or running
  std::deque<Job> finals;           // ended turns waiting for their decode, in order
  std::int64_t queued_samples = 0;  // audio of the final decodes not yet finished

  std::mutex emit_mutex;  // one callback at a time
  bool closed = false;

  template <class Call>
  void emit(Call&& call) {
    const std::lock_guard lock(emit_mutex);
    if (!closed) call(callbacks);
  }

  static void post(const std::shared_ptr<Shared>& self, Job job);
  static void run(const std::shared_ptr<Shared>& self, Job& job);
  static void next(const std::shared_ptr<Shared>& self, const Job& done);
  void confirm(Job& job, const std::vector<Segment>& segments);
  void complete(Job& job, const std::vector<Segment>& segments);
};

void LiveTranscriber::Shared::post(const std::shared_ptr<Shared>& self, Job job) {
  auto task = std::make_shared<Job>(std::move(job));
  try {
    self->executor([self, task] { run(self, *task); });
  } catch (const std::exception& e) {
    // The executor refused the task (a full pool): the turn fails, the queue goes on.
    if (task->final) {
      self->emit([&](const LiveCallbacks& c) {
        if (c.on_failed) c.on_failed(task->turn->item, std::string("not scheduled: ") + e.what());
      });
    }
    next(self, *task);
  }
}

void LiveTranscriber::Shared::run(const std::shared_ptr<Shared>& self, Job& job) {
  std::vector<Segment> segments;
  std::string error;
  bool decoded = false;
  if (!self->stop.stop_requested()) {
    try {
      segments = self->decode(job.audio, job.options, self->stop.get_token());
      decoded = true;
    } catch (const Cancelled&) {
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (decoded) {
    job.final ? self->complete(job, segments) : self->confirm(job, segments);
  } else if (job.final && !error.empty()) {
    self->emit([&](const LiveCallbacks& c) {
      if (c.on_failed) c.on_failed(job.turn->item, error);
    });
  }
  next(self, job);
}

// Starts the next final decode, or marks the transcriber idle. Runs after the finished job's
// callbacks, so that events keep turn order.
void LiveTranscriber::Shared::next(const std::shared_ptr<Shared>& self, const Job& done) {
  std::unique_lock lock(self->mutex);
  if (done.final) self->queued_samples -= static_cast<std::int64_t>(done.audio.size());
  if (self->stop.stop_requested()) self->finals.clear();
  if (self->finals.empty()) {
    self->busy = false;
    self->idle.notify_all();
    return;
  }
  Job job = std::move(self->finals.front());
  self->finals.pop_front();
  lock.unlock();
  post(self, std::move(job));
}

void LiveTranscriber::Shared::confirm(Job& job, const std::vector<Segment>& segments) {
  std::string delta;
  std::vector<TokenLogprob> logprobs;
  {
    const std::lock_guard lock(mutex);
    if (job.turn->cancelled) return;
    const auto newly = job.turn->agreement.update(hypothesis_words(segments));
    delta = append_words(*job.turn, newly, job.logprobs, logprobs);
  }
  if (delta.empty()) return;
  const Logprobs reported = job.logprobs ? Logprobs(std::move(logprobs)) : std::nullopt;
  emit([&](const LiveCallbacks& c) {
    if (c.on_delta) c.on_delta(job.turn->item, delta, reported);
  });
}

void LiveTranscriber::Shared::complete(Job& job, const std::vector<Segment>& segments) {
  std::string transcript;
  Logprobs logprobs;
  {
    const std::lock_guard lock(mutex);
    if (job.turn->cancelled) return;
    std::vector<TokenLogprob> tail_logprobs;
    const auto tail = job.turn->agreement.tail(hypothesis_words(segments));
    append_words(*job.turn, tail, job.logprobs, tail_logprobs);
    transcript = job.turn->sent;
    if (job.logprobs) logprobs = job.turn->sent_logprobs;
  }
  const double seconds = static_cast<double>(job.audio.size()) / kSamplesPerSecond;
  emit([&](const LiveCallbacks& c) {
    if (c.on_completed) c.on_completed(job.turn->item, transcript, logprobs, seconds);
  });
}

DecodeFunction model_decoder(Model model) {
  return [model = std::move(model)](std::span<const float> audio, const TranscribeOptions& options,
                                    std::stop_token stop) {
    return model.transcribe(audio, options, {}, std::move(stop)).segments;
  };
}

TranscribeOptions default_live_decode_options() {
  TranscribeOptions o;
  o.beam_size = 1;
  o.best_of = 1;
  o.temperatures = {0.0F};
  o.condition_on_previous_text = false;
  o.without_timestamps = true;
  return o;
}

LiveTranscriber::LiveTranscriber(DecodeFunction decode, LiveOptions options, Executor executor,
                                 LiveCallbacks callbacks)
    : shared_(std::make_shared<Shared>()), options_(std::move(options)) {
  shared_->decode = std::move(decode);
  shared_->executor = std::move(executor);
  shared_->callbacks = std::move(callbacks);
  reset_detection();
}

LiveTranscriber::~LiveTranscriber() { close(); }

void LiveTranscriber::push(std::span<const float> audio) {
  if (closed_ || audio.empty()) return;
  std::int64_t queued = 0;
  {
    const std::lock_guard lock(shared_->mutex);
    queued = shared_->queued_samples;
  }
  const auto held = static_cast<std::int64_t>(audio_.size() + audio.size()) + queued;
  if (held > seconds_to_samples(options_.max_buffered_seconds)) {
    throw BufferFull("the input audio buffer is full: " + std::to_string(held / kSamplesPerSecond) +
                     " s would be held, the limit is " +
                     std::to_string(static_cast<int>(options_.max_buffered_seconds)) + " s");
  }
  audio_.insert(audio_.end(), audio.begin(), audio.end());
  total_samples_ += static_cast<std::int64_t>(audio.size());
  if (detector_) {
    detect_turns(audio);
    if (!turn_) trim_idle_audio();
  } else if (!turn_) {
    start_turn(audio_start_, false);  // manual commits: all buffered audio is the turn
  }
  maybe_redecode();
}

void LiveTranscriber::detect_turns(std::span<const float> audio) {
  const std::int64_t max_turn = seconds_to_samples(options_.max_turn_seconds);
  for (const float p : vad_->push(audio)) {
    if (const auto event = detector_->push(p)) {
      const std::int64_t sample = vad_origin_ + event->sample;
      if (event->kind == TurnEvent::Kind::kSpeechStarted) {
        start_turn(sample, true);
      } else {
        end_turn(sample, true);
      }
    } else if (turn_ && vad_origin_ + detector_->samples_seen() - turn_start_ >= max_turn) {
      const auto stop = detector_->force_stop();
      end_turn(vad_origin_ + stop->sample, true);
    }
  }
}

void LiveTranscriber::start_turn(std::int64_t sample, bool announce) {
  sample = std::clamp(sample, audio_start_, total_samples_);
  audio_.erase(audio_.begin(), audio_.begin() + (sample - audio_start_));
  audio_start_ = sample;
  turn_ = std::make_shared<Turn>();
  turn_->item = random_id("item_");
  turn_start_ = sample;
  last_redecode_size_ = 0;
  if (announce) {
    shared_->emit([&](const LiveCallbacks& c) {
      if (c.on_speech_started) c.on_speech_started(turn_->item, sample / kSamplesPerMs);
    });
  }
}

void LiveTranscriber::end_turn(std::int64_t end_sample, bool speech_stopped) {
  if (!turn_) return;
  const auto n = std::clamp<std::int64_t>(end_sample - audio_start_, 0,
                                          static_cast<std::int64_t>(audio_.size()));
  Job job{turn_, std::vector<float>(audio_.begin(), audio_.begin() + n), decode_options(), true,
          options_.logprobs};
  audio_.erase(audio_.begin(), audio_.begin() + n);
  audio_start_ += n;
  const std::string item = turn_->item;
  turn_.reset();
  shared_->emit([&](const LiveCallbacks& c) {
    if (speech_stopped && c.on_speech_stopped)
      c.on_speech_stopped(item, end_sample / kSamplesPerMs);
    if (c.on_committed) c.on_committed(item, last_committed_);
  });
  last_committed_ = item;
  std::unique_lock lock(shared_->mutex);
  shared_->queued_samples += n;
  if (shared_->busy) {
    shared_->finals.push_back(std::move(job));
    return;
  }
  shared_->busy = true;
  lock.unlock();
  Shared::post(shared_, std::move(job));
}

void LiveTranscriber::maybe_redecode() {
  if (!turn_ || options_.partial_interval_seconds <= 0) return;
  const auto size = static_cast<std::int64_t>(audio_.size());
  if (size > seconds_to_samples(options_.max_partial_seconds) ||
      size - last_redecode_size_ < seconds_to_samples(options_.partial_interval_seconds)) {
    return;
  }
  {
    // Skipped while any decode runs or waits: a later push tries again with more audio.
    const std::lock_guard lock(shared_->mutex);
    if (shared_->busy) return;
    shared_->busy = true;
  }
  last_redecode_size_ = size;
  Shared::post(shared_, Job{turn_, audio_, decode_options(), false, options_.logprobs});
}

TranscribeOptions LiveTranscriber::decode_options() const {
  TranscribeOptions o = options_.decode;
  o.word_timestamps = o.word_timestamps || options_.logprobs;  // word probabilities
  return o;
}

// Between turns only the audio a turn could still start with is kept: the prefix padding before
// the next VAD window.
void LiveTranscriber::trim_idle_audio() {
  const std::int64_t keep_from = vad_origin_ + detector_->samples_seen() -
                                 detector_->options().prefix_padding_ms * kSamplesPerMs;
  if (keep_from <= audio_start_) return;
  const auto n =
      std::min<std::int64_t>(keep_from - audio_start_, static_cast<std::int64_t>(audio_.size()));
  audio_.erase(audio_.begin(), audio_.begin() + n);
  audio_start_ += n;
}

void LiveTranscriber::reset_detection() {
  if (options_.turn_detection) {
    vad_.emplace(options_.vad_model);
    detector_.emplace(*options_.turn_detection);
    vad_origin_ = total_samples_;
  } else {
    vad_.reset();
    detector_.reset();
  }
}

bool LiveTranscriber::commit() {
  if (closed_ || static_cast<std::int64_t>(audio_.size()) < kMinCommitSamples) return false;
  if (!turn_) start_turn(audio_start_, false);
  if (detector_) detector_->cancel_turn();
  end_turn(total_samples_, false);
  return true;
}

void LiveTranscriber::clear() {
  if (closed_) return;
  if (turn_) {
    const std::lock_guard lock(shared_->mutex);
    turn_->cancelled = true;
  }
  turn_.reset();
  audio_.clear();
  audio_start_ = total_samples_;
  if (detector_) detector_->cancel_turn();
}

void LiveTranscriber::set_options(LiveOptions options) {
  if (closed_) return;
  const bool detection_changed =
      options.turn_detection != options_.turn_detection || options.vad_model != options_.vad_model;
  if (detection_changed && turn_) {
    if (detector_) detector_->cancel_turn();
    end_turn(total_samples_, false);
  }
  options_ = std::move(options);
  if (detection_changed) reset_detection();
}

void LiveTranscriber::finish() {
  if (closed_) return;
  if (turn_ && static_cast<std::int64_t>(audio_.size()) >= kMinCommitSamples) {
    if (detector_) detector_->force_stop();
    end_turn(total_samples_, detector_.has_value());
  } else {
    clear();
  }
  wait_idle();
}

void LiveTranscriber::wait_idle() {
  std::unique_lock lock(shared_->mutex);
  shared_->idle.wait(lock, [&] { return !shared_->busy; });
}

void LiveTranscriber::close() {
  if (closed_) return;
  closed_ = true;
  shared_->stop.request_stop();
  const std::lock_guard lock(shared_->emit_mutex);
  shared_->closed = true;
}

double LiveTranscriber::buffered_seconds() const {
  const std::lock_guard lock(shared_->mutex);
  return static_cast<double>(static_cast<std::int64_t>(audio_.size()) + shared_->queued_samples) /
         kSamplesPerSecond;
}

}  // namespace amanuensis::realtime
