#include "stream.h"

#include <chrono>
#include <exception>
#include <utility>

namespace amanuensis::python {

Stream::Stream(Model model, std::vector<float> audio, TranscribeOptions options)
    : model_(std::move(model)), audio_(std::move(audio)), options_(std::move(options)) {
  worker_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

Stream::~Stream() { close(); }

void Stream::close() {
  if (!worker_.joinable()) return;
  worker_.request_stop();
  changed_.notify_all();
  worker_.join();
}

void Stream::run(const std::stop_token& stop) {
  const auto on_info = [&](const Transcription& info) {
    std::unique_lock lock(mutex_);
    info_ = info;
    changed_.notify_all();
    // Lazy like faster-whisper's generator: no window is decoded before Python asks.
    changed_.wait(lock, stop, [&] { return started_; });
    if (stop.stop_requested()) throw Cancelled();
  };
  const auto on_segment = [&](const Segment& segment) {
    const std::scoped_lock lock(mutex_);
    queue_.push_back(segment);
    changed_.notify_all();
  };
  try {
    (void)model_.transcribe(audio_, options_, on_segment, stop, on_info);
  } catch (const Cancelled& e) {
    const std::scoped_lock lock(mutex_);
    error_ = e.what();
    error_is_cancel_ = true;
  } catch (const std::exception& e) {
    const std::scoped_lock lock(mutex_);
    error_ = e.what();
  }
  const std::scoped_lock lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

void Stream::rethrow_error() {
  if (error_.empty()) return;
  if (error_is_cancel_) throw Cancelled();
  throw Error(error_);
}

Stream::Wait Stream::wait_info(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const bool ready = changed_.wait_for(lock, timeout, [&] { return info_ || finished_; });
  return ready ? Wait::kReady : Wait::kTimeout;
}

Transcription Stream::info() {
  const std::scoped_lock lock(mutex_);
  if (info_) return *info_;
  rethrow_error();
  throw Error("the transcription ended before its language was settled");
}

Stream::Wait Stream::wait_segment(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!started_) {
    started_ = true;
    changed_.notify_all();
  }
  const bool ready = changed_.wait_for(lock, timeout, [&] { return !queue_.empty() || finished_; });
  return ready ? Wait::kReady : Wait::kTimeout;
}

std::optional<Segment> Stream::take() {
  const std::scoped_lock lock(mutex_);
  if (!queue_.empty()) {
    auto segment = std::move(queue_.front());
    queue_.pop_front();
    return segment;
  }
  if (!finished_) throw Error("no segment is ready (call wait_segment first)");
  rethrow_error();
  return std::nullopt;
}

}  // namespace amanuensis::python
