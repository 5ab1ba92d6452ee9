// Test hook: AMANUENSIS_FAIL_BACKEND makes a backend fail on purpose, so that the fallback paths
// can be exercised on machines whose devices all work. A comma-separated list of
//   <backend>:init     the backend fails to initialise (selection falls back)
//   <backend>:run      every call of the backend fails once it is in use (requests fail over)
//   <backend>:run:N    calls fail from the N-th one on (1-based), i.e. in the middle of a request
// e.g. AMANUENSIS_FAIL_BACKEND=opencl:init or AMANUENSIS_FAIL_BACKEND=opencl:run:40.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace amanuensis::backends {

inline constexpr const char* kFailBackendVariable = "AMANUENSIS_FAIL_BACKEND";

struct ForcedFailures {
  bool init = false;
  // 1-based index of the first call that fails; unset: calls never fail on purpose.
  std::optional<std::int64_t> run_from_call;
};

// Parses `spec` (the variable's value) for `backend`; throws amanuensis::Error on a malformed spec.
ForcedFailures parse_forced_failures(std::string_view spec, std::string_view backend);

// The same, from the environment.
ForcedFailures forced_failures(std::string_view backend);

// The message a forced failure carries, naming the variable so nobody mistakes it for a fault.
std::string forced_failure_message(std::string_view backend, std::string_view stage);

}  // namespace amanuensis::backends
