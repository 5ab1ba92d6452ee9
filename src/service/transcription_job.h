// One transcription on its way through the worker pool: the upload goes in, segments come out as
// they are decoded, and the request thread watches the progress.
//
// The worker decodes the audio itself (not the request thread), so that at most `workers`
// decoded waveforms exist at once while queued requests hold only their compressed upload.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "service/worker_pool.h"

namespace amanuensis::service {

class TranscriptionJob final : public PoolTask {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Phase { kQueued, kDecoding, kTranscribing, kDone };

  // `audio` points into `upload`, which the job keeps alive until the audio is decoded.
  TranscriptionJob(Model model, std::shared_ptr<const std::string> upload, std::string_view audio,
                   TranscribeOptions options);

  void run() noexcept override;

  // Asks the work to stop: a queued job will not start, a running one ends at its next window.
  void cancel() { stop_.request_stop(); }

  // Blocks until `ready()` holds (checked under the job's lock whenever it progresses), `deadline`
  // passes, or `interrupted()` (polled every `poll` while waiting) returns true.
  enum class Wait { kReady, kDeadline, kInterrupted };
  Wait wait(const std::function<bool()>& ready, Clock::time_point deadline,
            const std::function<bool()>& interrupted,
            std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  // Readers of progress: call them from `ready`, or any time after kDone.
  [[nodiscard]] Phase phase() const { return phase_; }
  [[nodiscard]] std::size_t segment_count() const { return segments_.size(); }

  // Locked reads, for the request thread.
  [[nodiscard]] Phase current_phase() const;
  // Segments decoded so far, from index `first` on.
  [[nodiscard]] std::vector<Segment> segments_from(std::size_t first) const;

  // After kDone: either a transcription or the exception that ended the work.
  [[nodiscard]] const std::optional<Transcription>& result() const { return result_; }
  [[nodiscard]] std::exception_ptr error() const { return error_; }
  // True when the upload itself could not be decoded (as opposed to a decoding-option error).
  [[nodiscard]] bool failed_in_decoding() const { return failed_in_decoding_; }

  [[nodiscard]] double audio_seconds() const { return audio_seconds_; }
  // Time from being queued to a worker taking it, and from then to the end.
  [[nodiscard]] double queue_seconds() const;
  [[nodiscard]] double processing_seconds() const;

 private:
  void advance(Phase phase);

  Model model_;
  std::shared_ptr<const std::string> upload_;
  std::string_view audio_;
  TranscribeOptions options_;
  std::stop_source stop_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Phase phase_ = Phase::kQueued;
  std::vector<Segment> segments_;
  std::optional<Transcription> result_;
  std::exception_ptr error_;
  bool failed_in_decoding_ = false;
  double audio_seconds_ = 0.0;
  Clock::time_point queued_at_ = Clock::now();
  Clock::time_point started_at_{};
  Clock::time_point finished_at_{};
};

}  // namespace amanuensis::service
