// One line on standard error, prefixed "amanuensis: ": the library's log of backend selection
// and failover (the CLI's and the service's stderr).
#pragma once

#include <string>

namespace amanuensis::backends {

void log_line(const std::string& message);

}  // namespace amanuensis::backends
