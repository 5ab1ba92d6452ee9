// Continuous batching of decoder steps across concurrent requests.
//
// Requests that share one WhisperModel hand their decoder steps to one DecodeBatcher, which runs
// the steps that meet as one WhisperModel::decode_batch: every projection (and the vocabulary
// product) reads its weights once for all of them, while each state keeps its own attention,
// cache and length. There is no scheduler thread and no timer: a batch runs on the thread of one
// of its callers, the first to find it ready.
//
// Lanes. A batch keeps one thread busy. A device (CUDA, OpenCL) runs one batch at a time best,
// so it gets one lane; CPU cores each run a request's step about as fast alone as together, so
// merging steps there only pays once requests outnumber the cores, and the CPU gets a lane per
// core. A step that finds a free lane and nobody to wait for starts at once on its caller's
// thread (a lone request pays nothing); one that finds every lane busy waits and joins the next
// batch, which starts as soon as a lane frees.
//
// Sessions. Each caller does a little work of its own between two steps (choosing tokens), so two
// callers sharing one lane would otherwise take turns: each one's step would arrive while the
// other's runs, and every batch would hold one step. So callers step inside a Session, which
// marks a run of steps (one window's search). When open sessions outnumber the lanes, a queued
// step waits for the sessions between two steps to bring their next one rather than start
// without them. The wait is bounded by one step's token choice (no I/O, no encoding: a session
// must not stay open across those), and ends early when the queued steps fill a batch.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <stop_token>
#include <vector>

#include "model/whisper_model.h"

namespace amanuensis::model {

class DecodeBatcher {
 public:
  // Token rows one batch may carry. Beyond a few dozen rows a step is bound by arithmetic more
  // than by reading weights, so merging more would mostly make each caller wait longer. A single
  // step with more rows (a long prompt, word timing) still runs, without company.
  static constexpr int kDefaultMaxRows = 64;

  // `lanes`: batches that may run at the same time (see above).
  explicit DecodeBatcher(const WhisperModel& model, int lanes = 1, int max_rows = kDefaultMaxRows);
  DecodeBatcher(const DecodeBatcher&) = delete;
  DecodeBatcher& operator=(const DecodeBatcher&) = delete;
  ~DecodeBatcher() = default;

  [[nodiscard]] const WhisperModel& model() const { return model_; }

  // One caller's run of consecutive steps. Open it right before the first step and close it
  // (destroy it) right after the last one: while it is open, other sessions' steps may wait for
  // it. One thread holds at most one open session of a batcher.
  class Session {
   public:
    // `stop` cancels the caller's steps that have not started: they throw Cancelled.
    Session(DecodeBatcher& batcher, std::stop_token stop);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // WhisperModel::decode, run together with whatever other sessions' steps meet it. Throws
    // Error for a step that does not fit its state (without touching anyone else's), Cancelled
    // when the stop token is triggered before the step starts, and whatever the batch threw (a
    // device failure, say) to every caller whose step was in it.
    [[nodiscard]] std::vector<float> decode(DecoderState& state, std::span<const int> tokens,
                                            std::span<const int> positions,
                                            AttentionCapture* capture = nullptr);

    // Several states' steps (the windows of one batched transcription, say), always run together
    // in one batch, with whatever other sessions' steps meet them; each step's logits are filled.
    // Errors as decode(): a bad step fails the whole call before anything runs.
    void decode_together(std::span<DecodeStep> steps);

   private:
    DecodeBatcher& batcher_;
    std::stop_token stop_;
  };

 private:
  // One caller's step from the time it is queued until its caller has the result.
  struct Pending {
    std::span<DecodeStep> steps;  // run together, in one batch
    int rows = 0;
    bool running = false;
    bool done = false;
    std::exception_ptr error;
  };

  void run(Pending& pending, const std::stop_token& stop);
  // True when a lane is free and the queued steps need not wait for open sessions' next ones.
  [[nodiscard]] bool may_start() const;
  // Takes this lane's share of the queued steps (the oldest first) and runs them as one batch;
  // called and returns with `lock` held, which it releases while the batch computes.
  void run_batch(std::unique_lock<std::mutex>& lock);

  const WhisperModel& model_;
  const int lanes_;
  const int max_rows_;
  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<Pending*> queue_;  // oldest first
  int queued_rows_ = 0;
  int running_ = 0;   // batches computing now
  int sessions_ = 0;  // open sessions
  int stepping_ = 0;  // open sessions with a step queued or running
};

}  // namespace amanuensis::model
