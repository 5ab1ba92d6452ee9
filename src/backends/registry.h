// The registry: every backend's provider in one list, in the order `auto` tries them, and the
// selection that turns a --device value into a running kernels::Backend with its reports.
//
// Adding a device means one provider and one line in providers(); nothing else in the code base
// names devices.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "backends/failover.h"
#include "backends/provider.h"
#include "kernels/backend.h"

namespace amanuensis::backends {

inline constexpr const char* kDeviceVariable = "AMANUENSIS_DEVICE";

// Every provider, in auto's order of preference: npu, cuda, opencl, cpu.
const std::vector<std::unique_ptr<BackendProvider>>& providers();

// The device to use for `requested` ("auto", "", or a backend name): "auto" and "" become
// $AMANUENSIS_DEVICE when it is set. Throws amanuensis::Error for an unknown name.
std::string resolve_device(std::string_view requested);

struct Selection {
  // What the model computes with: the CPU backend, or a device wrapped in a FailoverBackend.
  std::unique_ptr<kernels::Backend> backend;
  // Never null; also for the CPU, so that reports always exist.
  std::shared_ptr<BackendMonitor> monitor;
};

// Tries the backends `device` names (auto: all in order; a name: that one, then the CPU) and
// returns the first that initialises and passes the self-test, with a report on every backend.
Selection select(std::string_view device, const BackendConfig& config);

// Every backend fully tried (probe, initialisation, self-test), `selected` marking the one
// select(device) would pick. Used by `amanuensis devices`.
std::vector<BackendReport> check_all(std::string_view device, const BackendConfig& config);

}  // namespace amanuensis::backends
