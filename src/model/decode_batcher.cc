#include "model/decode_batcher.h"

#include <algorithm>
#include <utility>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

DecodeBatcher::DecodeBatcher(const WhisperModel& model, int lanes, int max_rows)
    : model_(model), lanes_(std::max(1, lanes)), max_rows_(std::max(1, max_rows)) {}

DecodeBatcher::Session::Session(DecodeBatcher& batcher, std::stop_token stop)
    : batcher_(batcher), stop_(std::move(stop)) {
  const std::lock_guard lock(batcher_.mutex_);
  ++batcher_.sessions_;
}

DecodeBatcher::Session::~Session() {
  {
    const std::lock_guard lock(batcher_.mutex_);
    --batcher_.sessions_;
  }
  // Steps held back for this session's next one may start now.
  batcher_.changed_.notify_all();
}

std::vector<float> DecodeBatcher::Session::decode(DecoderState& state, std::span<const int> tokens,
                                                  std::span<const int> positions,
                                                  AttentionCapture* capture) {
  DecodeStep step{&state, tokens, positions, capture, {}};
  decode_together({&step, 1});
  return std::move(step.logits);
}

void DecodeBatcher::Session::decode_together(std::span<DecodeStep> steps) {
  if (stop_.stop_requested()) throw Cancelled();
  if (steps.empty()) return;
  Pending pending;
  pending.steps = steps;
  for (const auto& step : steps) {
    // A bad step fails its own caller here, before it can share a batch with anyone.
    batcher_.model_.check_step(step);
    pending.rows += static_cast<int>(step.tokens.size());
  }
  batcher_.run(pending, stop_);
}

bool DecodeBatcher::may_start() const {
  if (running_ == lanes_ || queue_.empty()) return false;
  // Waiting for a session between steps pays only when it would otherwise take a lane of its
  // own that another session needs: when there are more sessions than lanes.
  const int between_steps = sessions_ - stepping_;
  return between_steps <= 0 || sessions_ <= lanes_ || queued_rows_ >= max_rows_;
}

void DecodeBatcher::run(Pending& pending, const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  queue_.push_back(&pending);
  queued_rows_ += pending.rows;
  ++stepping_;
  // A caller whose step is still queued runs the next batch when one may start; a step taken
  // into another caller's batch comes back done.
  while (!pending.done) {
    if (!pending.running && may_start()) {
      run_batch(lock);
      continue;
    }
    if (!pending.running) {
      // The stop token only cancels a step still in the queue: once a batch has taken it, the
      // batch writes into its state until the end.
      if (!changed_.wait(lock, stop,
                         [&] { return pending.done || pending.running || may_start(); })) {
        std::erase(queue_, &pending);
        queued_rows_ -= pending.rows;
        --stepping_;
        lock.unlock();
        changed_.notify_all();
        throw Cancelled();
      }
    } else {
      changed_.wait(lock, [&] { return pending.done; });
    }
  }
  if (pending.error) std::rethrow_exception(pending.error);
}

void DecodeBatcher::run_batch(std::unique_lock<std::mutex>& lock) {
  // This lane's share of the queue, so that steps queued together spread over the free lanes
  // instead of crowding one while the others idle. The oldest step always goes; younger ones
  // join while their rows fit. A step left out keeps its place at the front, so it is the first
  // of the next batch.
  const auto free_lanes = static_cast<std::size_t>(lanes_ - running_);
  const std::size_t share = (queue_.size() + free_lanes - 1) / free_lanes;
  std::vector<Pending*> batch;
  int rows = 0;
  for (auto it = queue_.begin(); it != queue_.end() && batch.size() < share;) {
    if (!batch.empty() && rows + (*it)->rows > max_rows_) {
      ++it;
      continue;
    }
    rows += (*it)->rows;
    batch.push_back(*it);
    (*it)->running = true;
    it = queue_.erase(it);
  }
  queued_rows_ -= rows;
  ++running_;
  lock.unlock();
  changed_.notify_all();  // the callers taken stop watching their stop tokens

  std::exception_ptr error;
  std::vector<DecodeStep> steps;
  try {
    for (auto* pending : batch) {
      for (auto& step : pending->steps) steps.push_back(std::move(step));
    }
    model_.decode_batch(steps);
  } catch (...) {
    error = std::current_exception();
  }

  lock.lock();
  std::size_t next = 0;
  for (auto* pending : batch) {
    for (auto& step : pending->steps) {
      if (next < steps.size()) step.logits = std::move(steps[next++].logits);
    }
    pending->error = error;
    pending->done = true;
  }
  // From here these sessions are between steps, before their threads even wake up.
  stepping_ -= static_cast<int>(batch.size());
  --running_;
  changed_.notify_all();
}

}  // namespace amanuensis::model
