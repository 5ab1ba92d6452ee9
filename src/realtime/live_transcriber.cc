#include "realtime/live_transcriber.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "realtime/ids.h"
#include "realtime/turn_decoding.h"

namespace amanuensis::realtime {

namespace {

constexpr std::int64_t kSamplesPerSecond = kSampleRate;
constexpr std::int64_t kSamplesPerMs = kSampleRate / 1000;
constexpr std::int64_t kMinCommitSamples = kSampleRate / 10;  // 100 ms, as OpenAI requires

std::int64_t seconds_to_samples(double seconds) {
  return static_cast<std::int64_t>(std::llround(seconds * kSamplesPerSecond));
}

}  // namespace

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
    : decoder_(std::make_shared<TurnDecoder>(std::move(decode), std::move(executor),
                                             std::move(callbacks))),
      options_(std::move(options)) {
  reset_detection();
}

LiveTranscriber::~LiveTranscriber() { close(); }

void LiveTranscriber::push(std::span<const float> audio) {
  if (closed_ || audio.empty()) return;
  const auto held =
      static_cast<std::int64_t>(audio_.size() + audio.size()) + decoder_->queued_samples();
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
    const std::int64_t window = vad_origin_ + detector_->samples_seen();  // its first sample
    const std::int64_t window_end = window + TurnDetector::kWindowSamples;
    if (turn_ && detector_->in_speech()) track_silence(p, window);
    if (const auto event = detector_->push(p)) {
      const std::int64_t sample = vad_origin_ + event->sample;
      if (event->kind == TurnEvent::Kind::kSpeechStarted) {
        start_turn(sample, true);
      } else {
        end_turn(sample, true, true);
      }
    } else if (turn_ && window_end - turn_start_ >= max_turn) {
      const auto stop = detector_->force_stop();
      end_turn(vad_origin_ + stop->sample, true);
    } else if (turn_) {
      maybe_speculate(window_end);
    }
  }
}

// Follows the open turn's runs of silence as the detector judges them (same thresholds). A
// candidate decode stands only while every window after its audio is plainly silence: one at or
// above the lower threshold may hold a word it lacks.
void LiveTranscriber::track_silence(float probability, std::int64_t window) {
  const auto& o = detector_->options();
  const float neg_threshold = o.neg_threshold.value_or(std::max(o.threshold - 0.15F, 0.01F));
  if (probability < neg_threshold) {
    if (!silence_since_) silence_since_ = window;
    return;
  }
  if (probability >= o.threshold) silence_since_.reset();
  drop_candidate();
}

// Starts the candidate final decode once the silence has lasted the delay: the turn's audio up
// to `end_sample` (all the VAD has judged).
void LiveTranscriber::maybe_speculate(std::int64_t end_sample) {
  if (speculating_ || !silence_since_ || options_.speculative_delay_seconds < 0 ||
      end_sample - *silence_since_ < seconds_to_samples(options_.speculative_delay_seconds)) {
    return;
  }
  speculating_ = true;
  decoder_->speculate(make_job(JobKind::kCandidate, end_sample - audio_start_));
}

void LiveTranscriber::drop_candidate() {
  if (!speculating_) return;
  speculating_ = false;
  decoder_->drop_candidate(*turn_);
}

void LiveTranscriber::start_turn(std::int64_t sample, bool announce) {
  sample = std::clamp(sample, audio_start_, total_samples_);
  audio_.erase(audio_.begin(), audio_.begin() + (sample - audio_start_));
  audio_start_ = sample;
  turn_ = std::make_shared<LiveTurn>();
  turn_->item = random_id("item_");
  turn_start_ = sample;
  last_redecode_size_ = 0;
  silence_since_.reset();
  speculating_ = false;
  if (announce) {
    decoder_->emit([&](const LiveCallbacks& c) {
      if (c.on_speech_started) c.on_speech_started(turn_->item, sample / kSamplesPerMs);
    });
  }
}

// `at_silence`: the VAD ended the turn, so a candidate decode still standing holds all its speech.
void LiveTranscriber::end_turn(std::int64_t end_sample, bool speech_stopped, bool at_silence) {
  if (!turn_) return;
  auto job = make_job(JobKind::kFinal, end_sample - audio_start_);
  const auto n = static_cast<std::int64_t>(job->audio.size());
  job->turn_samples = job->queued_samples = n;
  audio_.erase(audio_.begin(), audio_.begin() + n);
  audio_start_ += n;
  const std::string item = turn_->item;
  decoder_->close_turn(*turn_);
  turn_.reset();
  decoder_->emit([&](const LiveCallbacks& c) {
    if (speech_stopped && c.on_speech_stopped)
      c.on_speech_stopped(item, end_sample / kSamplesPerMs);
    if (c.on_committed) c.on_committed(item, last_committed_);
  });
  last_committed_ = item;
  decoder_->end_turn(job, at_silence && speculating_);
  speculating_ = false;
  silence_since_.reset();
}

void LiveTranscriber::maybe_redecode() {
  if (!turn_ || options_.partial_interval_seconds <= 0) return;
  // In a silence the turn is likely ending: its final decode will come soon, and a partial one
  // would only hold the decoder.
  if (silence_since_) return;
  const auto size = static_cast<std::int64_t>(audio_.size());
  if (size > seconds_to_samples(options_.max_partial_seconds) ||
      size - last_redecode_size_ < seconds_to_samples(options_.partial_interval_seconds)) {
    return;
  }
  // Skipped while any decode runs or waits: a later push tries again with more audio.
  if (decoder_->try_partial(make_job(JobKind::kPartial, size))) last_redecode_size_ = size;
}

// A decode of the open turn's first `samples` buffered samples.
std::shared_ptr<DecodeJob> LiveTranscriber::make_job(JobKind kind, std::int64_t samples) const {
  auto job = std::make_shared<DecodeJob>();
  samples = std::clamp<std::int64_t>(samples, 0, static_cast<std::int64_t>(audio_.size()));
  job->turn = turn_;
  job->audio.assign(audio_.begin(), audio_.begin() + samples);
  job->options = options_.decode;
  job->options.word_timestamps = job->options.word_timestamps || options_.logprobs;
  job->kind = kind;
  job->logprobs = options_.logprobs;
  job->previous_text_chars = options_.previous_text_chars;
  job->turn_samples = samples;
  return job;
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
  if (turn_) decoder_->cancel_turn(*turn_);
  turn_.reset();
  silence_since_.reset();
  speculating_ = false;
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

void LiveTranscriber::wait_idle() { decoder_->wait_idle(); }

void LiveTranscriber::close() {
  if (closed_) return;
  closed_ = true;
  decoder_->close();
  // The open turn's speculative decode and the turn refer to each other: cancelling the turn
  // stops that decode and breaks the cycle, which would otherwise keep both, audio included.
  if (turn_) decoder_->cancel_turn(*turn_);
  turn_.reset();
}

double LiveTranscriber::buffered_seconds() const {
  return static_cast<double>(static_cast<std::int64_t>(audio_.size()) +
                             decoder_->queued_samples()) /
         kSamplesPerSecond;
}

}  // namespace amanuensis::realtime
