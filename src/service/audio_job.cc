#include "service/audio_job.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

namespace amanuensis::service {

AudioJob::AudioJob(std::shared_ptr<const std::string> upload, std::string_view audio)
    : upload_(std::move(upload)), audio_(audio) {}

void AudioJob::advance(Phase phase) {
  {
    const std::lock_guard lock(mutex_);
    phase_ = phase;
    if (phase == Phase::kDone) finished_at_ = Clock::now();
  }
  changed_.notify_all();
}

void AudioJob::run() noexcept {
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
    advance(Phase::kProcessing);
    process(waveform, stop_.get_token());
  } catch (...) {
    const std::lock_guard lock(mutex_);
    error_ = std::current_exception();
    upload_.reset();
  }
  advance(Phase::kDone);
}

AudioJob::Wait AudioJob::wait(const std::function<bool()>& ready, Clock::time_point deadline,
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

AudioJob::Phase AudioJob::current_phase() const {
  const std::lock_guard lock(mutex_);
  return phase_;
}

double AudioJob::queue_seconds() const {
  const std::lock_guard lock(mutex_);
  const auto end = started_at_ == Clock::time_point{} ? Clock::now() : started_at_;
  return std::chrono::duration<double>(end - queued_at_).count();
}

double AudioJob::processing_seconds() const {
  const std::lock_guard lock(mutex_);
  if (started_at_ == Clock::time_point{}) return 0.0;
  const auto end = finished_at_ == Clock::time_point{} ? Clock::now() : finished_at_;
  return std::chrono::duration<double>(end - started_at_).count();
}

}  // namespace amanuensis::service
