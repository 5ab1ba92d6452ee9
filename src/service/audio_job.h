// An upload on its way through the worker pool: the worker decodes it, then hands the waveform to
// the job's own work (a transcription, speech detection), while the request thread watches the
// progress.
//
// The worker decodes the audio itself (not the request thread), so that at most `workers`
// decoded waveforms exist at once while queued requests hold only their compressed upload.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"
#include "service/worker_pool.h"

namespace amanuensis::service {

class AudioJob : public PoolTask {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Phase { kQueued, kDecoding, kProcessing, kDone };

  // `audio` points into `upload`, which the job keeps alive until the audio is decoded.
  AudioJob(std::shared_ptr<const std::string> upload, std::string_view audio);

  void run() noexcept final;

  // Asks the work to stop: a queued job will not start, a running one stops where its work
  // checks the token.
  void cancel() { stop_.request_stop(); }

  // Blocks until `ready()` holds (checked under the job's lock whenever it progresses), `deadline`
  // passes, or `interrupted()` (polled every `poll` while waiting) returns true.
  enum class Wait { kReady, kDeadline, kInterrupted };
  Wait wait(const std::function<bool()>& ready, Clock::time_point deadline,
            const std::function<bool()>& interrupted,
            std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  // Readers of progress: call them from `ready`, or any time after kDone.
  [[nodiscard]] Phase phase() const { return phase_; }
  // A locked read, for the request thread.
  [[nodiscard]] Phase current_phase() const;

  // After kDone: the exception that ended the work, or null when it succeeded.
  [[nodiscard]] std::exception_ptr error() const { return error_; }
  // True when the upload itself could not be decoded (as opposed to a rejected option).
  [[nodiscard]] bool failed_in_decoding() const { return failed_in_decoding_; }

  [[nodiscard]] double audio_seconds() const { return audio_seconds_; }
  // Time from being queued to a worker taking it, and from then to the end.
  [[nodiscard]] double queue_seconds() const;
  [[nodiscard]] double processing_seconds() const;

 protected:
  // The job's work on the decoded audio, on the worker thread; what it throws is the job's
  // error. It publishes its results under `mutex_` and calls `changed_.notify_all()`.
  virtual void process(const Waveform& audio, std::stop_token stop) = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;

 private:
  void advance(Phase phase);

  std::shared_ptr<const std::string> upload_;
  std::string_view audio_;
  std::stop_source stop_;

  Phase phase_ = Phase::kQueued;
  std::exception_ptr error_;
  bool failed_in_decoding_ = false;
  double audio_seconds_ = 0.0;
  Clock::time_point queued_at_ = Clock::now();
  Clock::time_point started_at_{};
  Clock::time_point finished_at_{};
};

}  // namespace amanuensis::service
