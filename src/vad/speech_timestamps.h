// TEMPORARY stand-in (the vad branch brings the real one): the interface the engine uses.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::vad {

struct Chunk {
  std::int64_t offset = 0;
  std::int64_t samples = 0;
  std::vector<SpeechSpan> spans;
};

std::vector<Chunk> collect_chunks(std::span<const SpeechSpan> spans, double max_seconds);
std::vector<float> gather_speech(std::span<const float> audio, std::span<const SpeechSpan> spans);

class SpeechTimestampMap {
 public:
  explicit SpeechTimestampMap(std::span<const SpeechSpan> spans);
  [[nodiscard]] int chunk_index(double time, bool is_end = false) const;
  [[nodiscard]] double original_time(double time, std::optional<int> chunk_index = std::nullopt,
                                     bool is_end = false) const;

 private:
  std::vector<std::int64_t> chunk_end_sample_;
  std::vector<double> total_silence_before_;
};

}  // namespace amanuensis::vad
