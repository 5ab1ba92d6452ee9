// The backend part of the public API (include/amanuensis/amanuensis.h).
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "backends/registry.h"

namespace amanuensis {

std::vector<BackendReport> list_backends(const std::string& device) {
  const int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return backends::check_all(device, {.threads = threads});
}

}  // namespace amanuensis
