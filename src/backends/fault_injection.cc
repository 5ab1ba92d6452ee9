#include "backends/fault_injection.h"

#include <charconv>
#include <cstdlib>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::backends {

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

[[noreturn]] void malformed(std::string_view spec, std::string_view entry) {
  throw Error(std::string(kFailBackendVariable) + "=" + std::string(spec) + ": cannot read '" +
              std::string(entry) + "' (expected <backend>:init, <backend>:run or <backend>:run:N)");
}

}  // namespace

ForcedFailures parse_forced_failures(std::string_view spec, std::string_view backend) {
  ForcedFailures forced;
  for (const auto entry : split(spec, ',')) {
    if (entry.empty()) continue;
    const auto fields = split(entry, ':');
    if (fields.size() < 2 || fields.size() > 3) malformed(spec, entry);
    if (fields[1] == "init" && fields.size() == 2) {
      if (fields[0] == backend) forced.init = true;
    } else if (fields[1] == "run") {
      std::int64_t from = 1;
      if (fields.size() == 3) {
        const auto* first = fields[2].data();
        const auto* last = first + fields[2].size();
        const auto [end, error] = std::from_chars(first, last, from);
        if (error != std::errc() || end != last || from < 1) malformed(spec, entry);
      }
      if (fields[0] == backend) forced.run_from_call = from;
    } else {
      malformed(spec, entry);
    }
  }
  return forced;
}

ForcedFailures forced_failures(std::string_view backend) {
  const char* spec = std::getenv(kFailBackendVariable);
  if (spec == nullptr) return {};
  return parse_forced_failures(spec, backend);
}

std::string forced_failure_message(std::string_view backend, std::string_view stage) {
  return "forced failure at " + std::string(stage) + " (" + kFailBackendVariable + "=" +
         std::string(backend) + ":" + std::string(stage) + ")";
}

}  // namespace amanuensis::backends
