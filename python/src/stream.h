// One transcription run for Python's lazy segment generator. A worker thread runs
// Model::transcribe; it settles the language and durations (the TranscriptionInfo faster-whisper
// returns at once), then waits until Python first asks for a segment, so that no window is decoded
// before the generator is iterated. Segments queue up as each window finishes. Closing (or
// dropping) the stream stops the work at its next window or decoder step and joins the thread.
// Nothing here touches Python: the module converts at the boundary.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::python {

class Stream {
 public:
  Stream(Model model, std::vector<float> audio, TranscribeOptions options);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  enum class Wait { kReady, kTimeout };

  // Waits up to `timeout` for the info; kReady once it is there or the run failed. Call with the
  // GIL released.
  Wait wait_info(std::chrono::milliseconds timeout);
  // The settled info, or throws the run's error.
  Transcription info();

  // Lets decoding start (the first call), then waits up to `timeout` for a segment or the end.
  Wait wait_segment(std::chrono::milliseconds timeout);
  // The next queued segment; nullopt at the end. Throws the run's error once the queue is drained.
  std::optional<Segment> take();

  // Stops the run and joins the worker.
  void close();

 private:
  void run(const std::stop_token& stop);
  void rethrow_error();

  Model model_;
  std::vector<float> audio_;
  TranscribeOptions options_;

  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::optional<Transcription> info_;
  bool started_ = false;  // Python asked for a segment: decoding may begin
  bool finished_ = false;
  std::string error_;
  bool error_is_cancel_ = false;
  std::deque<Segment> queue_;
  std::jthread worker_;  // last: joined before the state above goes
};

}  // namespace amanuensis::python
