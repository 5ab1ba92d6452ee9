#include "service/transcription_job.h"

#include <utility>

namespace amanuensis::service {

TranscriptionJob::TranscriptionJob(ModelLease model, std::shared_ptr<const std::string> upload,
                                   std::string_view audio, TranscribeOptions options)
    : AudioJob(std::move(upload), audio), model_(std::move(model)), options_(std::move(options)) {}

void TranscriptionJob::process(const Waveform& audio, std::stop_token stop) {
  auto on_segment = [this](const Segment& segment) {
    {
      const std::lock_guard lock(mutex_);
      segments_.push_back(segment);
    }
    changed_.notify_all();
  };
  auto transcription = model_->transcribe(audio, options_, on_segment, std::move(stop));
  const std::lock_guard lock(mutex_);
  result_ = std::move(transcription);
}

std::vector<Segment> TranscriptionJob::segments_from(std::size_t first) const {
  const std::lock_guard lock(mutex_);
  if (first >= segments_.size()) return {};
  return {segments_.begin() + static_cast<std::ptrdiff_t>(first), segments_.end()};
}

}  // namespace amanuensis::service
