// One line of the library's log of backend selection and failover (util/log.h: standard error,
// prefixed "amanuensis: ", unless a log callback is set).
#pragma once

#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::backends {

void log_line(const std::string& message, LogLevel level = LogLevel::kInfo);

}  // namespace amanuensis::backends
