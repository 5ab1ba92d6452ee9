#include "service/speech_timestamps_job.h"

#include <utility>

namespace amanuensis::service {

SpeechTimestampsJob::SpeechTimestampsJob(std::shared_ptr<const std::string> upload,
                                         std::string_view audio, VadOptions options)
    : AudioJob(std::move(upload), audio), options_(options) {}

void SpeechTimestampsJob::process(const Waveform& audio, std::stop_token stop) {
  // The VAD runs at hundreds of times real time: a cancellation is honoured before it starts.
  if (stop.stop_requested()) throw Cancelled();
  auto spans = detect_speech(audio, options_);
  const std::lock_guard lock(mutex_);
  spans_ = std::move(spans);
}

}  // namespace amanuensis::service
