// One transcription on its way through the worker pool: the upload goes in, segments come out as
// they are decoded, and the request thread watches the progress (see AudioJob).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "service/audio_job.h"
#include "service/model_registry.h"

namespace amanuensis::service {

class TranscriptionJob final : public AudioJob {
 public:
  // `audio` points into `upload`, which the job keeps alive until the audio is decoded. The job
  // holds `model` (and so keeps it loaded) until it is destroyed.
  TranscriptionJob(ModelLease model, std::shared_ptr<const std::string> upload,
                   std::string_view audio, TranscribeOptions options);

  // Call from a `wait` predicate, or any time after kDone.
  [[nodiscard]] std::size_t segment_count() const { return segments_.size(); }
  // Segments decoded so far, from index `first` on (a locked read, for the request thread).
  [[nodiscard]] std::vector<Segment> segments_from(std::size_t first) const;

  // After kDone: the transcription, unless the work failed (see error()).
  [[nodiscard]] const std::optional<Transcription>& result() const { return result_; }

 private:
  void process(const Waveform& audio, std::stop_token stop) override;

  ModelLease model_;
  TranscribeOptions options_;
  std::vector<Segment> segments_;
  std::optional<Transcription> result_;
};

}  // namespace amanuensis::service
