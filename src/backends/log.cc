#include "backends/log.h"

#include "util/log.h"

namespace amanuensis::backends {

void log_line(const std::string& message, LogLevel level) { util::log(level, message); }

}  // namespace amanuensis::backends
