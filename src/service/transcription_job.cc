#include "service/transcription_job.h"

#include <cstdint>
#include <span>
#include <utility>

namespace amanuensis::service {

TranscriptionJob::TranscriptionJob(Model model, std::shared_ptr<const std::string> upload,
                                   std::string_view audio, TranscribeOptions options)
    : model_(std::move(model)),
      upload_(std::move(upload)),
      audio_(audio),
      options_(std::move(options)) {}

void TranscriptionJob::advance(Phase phase) {
  {
    const std::lock_guard lock(mutex_);
    phase_ = phase;
    if (phase == Phase::kDone) finished_at_ = Clock::now();
  }
  changed_.notify_all();
}

void TranscriptionJob::run() noexcept {
  {
    const std::lock_guard lock(mutex_);
    started_at_ = Clock::now();
  }
  try {
    if (stop_.stop_requested()) throw Cancelled();
    advance(Phase::kDecoding);
    Waveform waveform;
    try {
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(audio_.data());
      waveform = decode_audio_bytes(std::span(bytes, audio_.size()));
    } catch (...) {
      const std::lock_guard lock(mutex_);
      failed_in_decoding_ = true;
      throw;
    }
    {
      const std::lock_guard lock(mutex_);
      audio_seconds_ = static_cast<double>(waveform.size()) / kSampleRate;
      upload_.reset();  // the compressed upload is no longer needed
      audio_ = {};
    }
    advance(Phase::kTranscribing);

    auto on_segment = [this](const Segment& segment) {
      {
        const std::lock_guard lock(mutex_);
        segments_.push_back(segment);
      }
      changed_.notify_all();
    };
    auto transcription = model_.transcribe(waveform, options_, on_segment, stop_.get_token());
    const std::lock_guard lock(mutex_);
    result_ = std::move(transcription);
  } catch (...) {
    const std::lock_guard lock(mutex_);
    error_ = std::current_exception();
    upload_.reset();
  }
  advance(Phase::kDone);
}

TranscriptionJob::Wait TranscriptionJob::wait(const std::function<bool()>& ready,
                                              Clock::time_point deadline,
                                              const std::function<bool()>& interrupted,
                                              std::chrono::milliseconds poll) {
  std::unique_lock lock(mutex_);
  while (!ready()) {
    const auto now = Clock::now();
    if (now >= deadline) return Wait::kDeadline;
    // The interruption check (a poll() on the client's socket) must not hold the job's lock.
    lock.unlock();
    if (interrupted && interrupted()) return Wait::kInterrupted;
    lock.lock();
    if (ready()) break;
    changed_.wait_until(lock, std::min(deadline, Clock::now() + poll));
  }
  return Wait::kReady;
}

TranscriptionJob::Phase TranscriptionJob::current_phase() const {
  const std::lock_guard lock(mutex_);
  return phase_;
}

std::vector<Segment> TranscriptionJob::segments_from(std::size_t first) const {
  const std::lock_guard lock(mutex_);
  if (first >= segments_.size()) return {};
  return {segments_.begin() + static_cast<std::ptrdiff_t>(first), segments_.end()};
}

double TranscriptionJob::queue_seconds() const {
  const std::lock_guard lock(mutex_);
  const auto end = started_at_ == Clock::time_point{} ? Clock::now() : started_at_;
  return std::chrono::duration<double>(end - queued_at_).count();
}

double TranscriptionJob::processing_seconds() const {
  const std::lock_guard lock(mutex_);
  if (started_at_ == Clock::time_point{}) return 0.0;
  const auto end = finished_at_ == Clock::time_point{} ? Clock::now() : finished_at_;
  return std::chrono::duration<double>(end - started_at_).count();
}

}  // namespace amanuensis::service
