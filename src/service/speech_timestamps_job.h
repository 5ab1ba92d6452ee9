// Speech detection on an upload (POST /v1/audio/speech/timestamps), run by the worker pool like a
// transcription: the same queue bound, deadline, cancellation and audio decoding (see AudioJob).
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "service/audio_job.h"

namespace amanuensis::service {

class SpeechTimestampsJob final : public AudioJob {
 public:
  // `audio` points into `upload`, which the job keeps alive until the audio is decoded.
  SpeechTimestampsJob(std::shared_ptr<const std::string> upload, std::string_view audio,
                      VadOptions options);

  // After kDone without error: where the audio holds speech, in samples.
  [[nodiscard]] const std::vector<SpeechSpan>& spans() const { return spans_; }

 private:
  void process(const Waveform& audio, std::stop_token stop) override;

  VadOptions options_;
  std::vector<SpeechSpan> spans_;
};

}  // namespace amanuensis::service
