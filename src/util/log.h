// The library's log: a few lines a process (backend selection, failover, a bad AMANUENSIS_CPU_ISA).
// They go to the callback set with amanuensis::set_log_callback (amanuensis.h) or, by default, to
// standard error prefixed "amanuensis: ", one write per line.
#pragma once

#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::util {

void log(LogLevel level, const std::string& message);

}  // namespace amanuensis::util
