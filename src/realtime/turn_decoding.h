// The decoding side of a LiveTranscriber (live_transcriber.h): its decodes, run one at a time on
// the executor. Three kinds, by priority: final decodes of ended turns, queued in turn order and
// never dropped; the open turn's speculative final decode (a "candidate", started when a silence
// begins, which becomes the final decode if the turn ends at that silence); partial decodes of
// the open turn for deltas, dropped whenever anything else needs the decoder, so that a turn's
// end never waits for one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "realtime/live_transcriber.h"
#include "realtime/local_agreement.h"

namespace amanuensis::realtime {

struct DecodeJob;

// A turn as its decodes see it; guarded by its TurnDecoder's mutex.
struct LiveTurn {
  std::string item;
  LocalAgreement agreement;
  std::string sent;  // the text of every delta so far
  std::vector<TokenLogprob> sent_logprobs;
  bool cancelled = false;                // cleared: no more events
  bool ended = false;                    // committed: partial decodes report nothing more
  std::shared_ptr<DecodeJob> candidate;  // its speculative final decode, while it may serve
};

enum class JobKind { kPartial, kCandidate, kFinal };

struct DecodeJob {
  std::shared_ptr<LiveTurn> turn;
  std::vector<float> audio;
  TranscribeOptions options;
  JobKind kind = JobKind::kPartial;
  bool logprobs = false;
  std::size_t previous_text_chars = 0;         // of earlier transcripts added to the prompt
  std::int64_t turn_samples = 0;               // the turn's length, reported with its transcript
  std::int64_t queued_samples = 0;             // counted in the buffer limit until the job is done
  std::stop_source stop;                       // this decode only
  bool finished = false;                       // ran, or could not be scheduled
  std::optional<std::vector<Segment>> result;  // decoded already: a candidate's, kept
};

class TurnDecoder : public std::enable_shared_from_this<TurnDecoder> {
 public:
  TurnDecoder(DecodeFunction decode, Executor executor, LiveCallbacks callbacks);

  // Calls `call(callbacks)` unless closed; one call at a time.
  template <class Call>
  void emit(Call&& call) {
    const std::lock_guard lock(emit_mutex_);
    if (!closed_) call(callbacks_);
  }

  // Starts a partial decode, unless another decode runs or waits (false then).
  bool try_partial(const std::shared_ptr<DecodeJob>& job);
  // Starts the open turn's candidate after the final decodes waiting; drops a running partial.
  void speculate(const std::shared_ptr<DecodeJob>& job);
  // The open turn went on past its candidate's audio: the candidate is stopped and forgotten.
  void drop_candidate(LiveTurn& turn);
  // The turn ends: its partial decodes stop and report nothing more. Call before committed.
  void close_turn(LiveTurn& turn);
  // Its final decode (`job`: the whole turn) is queued; with `use_candidate`, the candidate's
  // decode serves instead when it ran or runs to the end without error.
  void end_turn(const std::shared_ptr<DecodeJob>& job, bool use_candidate);
  // clear(): no more events for the open turn; its decodes stop.
  void cancel_turn(LiveTurn& turn);
  void wait_idle();
  // Stops decoding and every callback.
  void close();
  [[nodiscard]] std::int64_t queued_samples();

 private:
  struct Outcome {
    std::optional<std::vector<Segment>> segments;
    std::string error;
  };

  bool submit_locked(const std::shared_ptr<DecodeJob>& job);
  void unqueue_locked(const std::shared_ptr<DecodeJob>& job);
  void post(const std::shared_ptr<DecodeJob>& job);
  void run(const std::shared_ptr<DecodeJob>& job);
  Outcome decode(DecodeJob& job);
  void next(const DecodeJob& done);
  void confirm(DecodeJob& job, const std::vector<Segment>& segments);
  void complete(DecodeJob& job, const std::vector<Segment>& segments);
  [[nodiscard]] std::string prompt_for(const DecodeJob& job) const;

  DecodeFunction decode_;
  Executor executor_;
  LiveCallbacks callbacks_;
  std::stop_source stop_;  // close()

  std::mutex mutex_;  // guards what follows and every LiveTurn
  std::condition_variable idle_;
  std::shared_ptr<DecodeJob> running_;            // posted or running
  std::deque<std::shared_ptr<DecodeJob>> queue_;  // finals and candidates, in turn order
  std::int64_t queued_samples_ = 0;
  std::string history_;  // the latest transcripts, for the next decodes' prompt

  std::mutex emit_mutex_;  // taken before mutex_ when both are
  bool closed_ = false;
};

}  // namespace amanuensis::realtime
