#include "backends/log.h"

#include <cstdio>

namespace amanuensis::backends {

void log_line(const std::string& message) {
  // One fprintf per line: lines from concurrent requests do not interleave.
  std::fprintf(stderr, "amanuensis: %s\n", message.c_str());
}

}  // namespace amanuensis::backends
