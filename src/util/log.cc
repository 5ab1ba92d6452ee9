#include "util/log.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <utility>

namespace amanuensis {
namespace {

std::mutex sink_mutex;
std::shared_ptr<const LogCallback> sink;  // null: standard error

}  // namespace

void set_log_callback(LogCallback callback) {
  auto next = callback ? std::make_shared<const LogCallback>(std::move(callback)) : nullptr;
  const std::scoped_lock lock(sink_mutex);
  sink = std::move(next);
}

void util::log(LogLevel level, const std::string& message) {
  std::shared_ptr<const LogCallback> current;
  {
    const std::scoped_lock lock(sink_mutex);
    current = sink;
  }
  if (current) {
    (*current)(level, message);
    return;
  }
  // One fprintf per line: lines from concurrent requests do not interleave.
  std::fprintf(stderr, "amanuensis: %s\n", message.c_str());
}

}  // namespace amanuensis
