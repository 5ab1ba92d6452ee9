#include "backends/registry.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "backends/fault_injection.h"
#include "backends/log.h"
#include "backends/self_test.h"

namespace amanuensis::backends {

namespace {

// One backend tried: its report, and the backend itself when it passed.
struct Attempt {
  BackendReport report;
  std::unique_ptr<kernels::Backend> backend;
  std::string auto_skip;  // set when it works but auto should pass over it
  bool probed_available = false;
};

std::string format_error(double error, double tolerance) {
  char text[96];
  std::snprintf(text, sizeof text, "max relative error %.2g (tolerance %.0e)", error, tolerance);
  return text;
}

// Probe only: for backends selection did not need to try.
Attempt probe_only(const BackendProvider& provider, const std::string& why_not_tried) {
  Attempt attempt;
  attempt.report.name = std::string(provider.name());
  ProbeResult probe;
  try {
    probe = provider.probe();
  } catch (const std::exception& e) {
    probe.reason = std::string("detection failed: ") + e.what();
  }
  attempt.report.available = probe.available;
  attempt.report.reason = why_not_tried + " (" + probe.reason + ")";
  attempt.report.details = std::move(probe.details);
  return attempt;
}

// Detection, initialisation and self-test; `stop_at_auto_skip` leaves a device auto passes over
// uninitialised.
Attempt try_provider(const BackendProvider& provider, const BackendConfig& config,
                     kernels::Backend& reference, bool stop_at_auto_skip) {
  Attempt attempt;
  auto& report = attempt.report;
  report.name = std::string(provider.name());
  if (forced_failures(provider.name()).init) {
    report.reason = forced_failure_message(provider.name(), "init");
    return attempt;
  }
  ProbeResult probe;
  try {
    probe = provider.probe();
  } catch (const std::exception& e) {
    probe.available = false;
    probe.reason = std::string("detection failed: ") + e.what();
  }
  report.details = std::move(probe.details);
  attempt.auto_skip = probe.auto_skip_reason;
  attempt.probed_available = probe.available;
  if (!probe.available) {
    report.reason = probe.reason;
    return attempt;
  }
  if (stop_at_auto_skip && !attempt.auto_skip.empty()) {
    report.available = true;
    report.reason = probe.reason + "; auto passes over it: " + attempt.auto_skip;
    return attempt;
  }
  std::unique_ptr<kernels::Backend> backend;
  try {
    backend = provider.create(config);
  } catch (const std::exception& e) {
    report.reason = std::string("initialisation failed: ") + e.what();
    return attempt;
  }
  if (provider.name() != "cpu") {
    const auto test = self_test(*backend, reference, provider.self_test_tolerance());
    if (!test.passed) {
      report.reason = "self-test against the cpu backend failed: " + test.failure;
      return attempt;
    }
    report.details.emplace_back("self_test",
                                format_error(test.max_error, provider.self_test_tolerance()));
  }
  report.details.emplace_back("kernels", backend->describe());
  report.available = true;
  report.reason = probe.reason;
  attempt.backend = std::move(backend);
  return attempt;
}

bool in_chain(std::string_view name, const std::string& device) {
  return device == "auto" || name == device || name == "cpu";
}

std::string why_selected(const std::string& device, std::string_view name) {
  if (device == "auto") return "selected by auto (tries npu, cuda, opencl, cpu in turn)";
  if (name == device) return "selected: requested (device=" + device + ")";
  return "selected: fallback, the requested " + device + " backend failed";
}

}  // namespace

const std::vector<std::unique_ptr<BackendProvider>>& providers() {
  static const auto list = [] {
    std::vector<std::unique_ptr<BackendProvider>> all;
    all.push_back(make_npu_provider());
    all.push_back(make_cuda_provider());
    all.push_back(make_opencl_provider());
    all.push_back(make_cpu_provider());
    return all;
  }();
  return list;
}

std::string resolve_device(std::string_view requested) {
  std::string device(requested);
  if (device.empty() || device == "auto") {
    const char* from_env = std::getenv(kDeviceVariable);
    device = from_env != nullptr && *from_env != '\0' ? from_env : "auto";
  }
  if (device == "auto") return device;
  std::string names = "auto";
  for (const auto& provider : providers()) {
    if (provider->name() == device) return device;
    names += ", " + std::string(provider->name());
  }
  throw Error("unknown device '" + device + "' (expected one of: " + names + ")");
}

void throw_no_such_device(std::string_view backend, int index, int count) {
  throw DeviceError("no " + std::string(backend) + " device " + std::to_string(index) +
                    " (device_index counts from 0; there " + (count == 1 ? "is " : "are ") +
                    std::to_string(count) + ")");
}

Selection select(std::string_view requested, const BackendConfig& config) {
  const auto device = resolve_device(requested);
  if (device == "cpu" && config.device_index > 0) {
    throw Error("device_index " + std::to_string(config.device_index) +
                ": the cpu backend has one device, index 0");
  }
  const auto reference = kernels::make_cpu_backend(1);
  std::vector<BackendReport> reports;
  std::unique_ptr<kernels::Backend> chosen;
  std::string chosen_name;
  for (const auto& provider : providers()) {
    const auto name = std::string(provider->name());
    if (!in_chain(name, device)) {
      reports.push_back(probe_only(*provider, "not requested (device=" + device + ")").report);
      continue;
    }
    if (chosen) {
      const auto why = name == "cpu" ? "fallback for requests " + chosen_name + " fails"
                                     : "not tried: " + chosen_name + " was chosen first";
      reports.push_back(probe_only(*provider, why).report);
      continue;
    }
    auto attempt =
        try_provider(*provider, config, *reference, /*stop_at_auto_skip=*/device == "auto");
    if (attempt.backend) {
      attempt.report.selected = true;
      attempt.report.reason = why_selected(device, name) + "; " + attempt.report.reason;
      chosen = std::move(attempt.backend);
      chosen_name = name;
    } else if (name == device || (attempt.probed_available && attempt.auto_skip.empty()) ||
               forced_failures(name).init) {
      // Worth a log line: the user asked for it, or it is there but broken. Devices that are
      // simply absent are only reported.
      log_line("backend " + name + " not used: " + attempt.report.reason, LogLevel::kWarning);
    }
    reports.push_back(std::move(attempt.report));
  }
  if (!chosen) throw Error("no compute backend could be initialised (not even the cpu)");
  if (chosen_name != device && device != "auto") {
    log_line("computing on " + chosen_name + " instead of the requested " + device,
             LogLevel::kWarning);
  } else if (chosen_name != "cpu") {
    log_line("computing on " + chosen_name + " (" + chosen->describe() + ")");
  }
  auto monitor = std::make_shared<BackendMonitor>(std::move(reports), chosen_name);
  if (chosen_name == "cpu") return {std::move(chosen), std::move(monitor)};
  auto wrapped = std::make_unique<FailoverBackend>(std::move(chosen),
                                                   kernels::make_cpu_backend(config.threads),
                                                   monitor, forced_failures(chosen_name));
  return {std::move(wrapped), std::move(monitor)};
}

std::vector<BackendReport> check_all(std::string_view requested, const BackendConfig& config) {
  const auto device = resolve_device(requested);
  const auto reference = kernels::make_cpu_backend(1);
  std::vector<Attempt> attempts;
  for (const auto& provider : providers()) {
    attempts.push_back(try_provider(*provider, config, *reference, /*stop_at_auto_skip=*/false));
    attempts.back().backend.reset();  // only the verdict is kept; free the device right away
  }
  std::string chosen;
  for (auto& attempt : attempts) {
    auto& report = attempt.report;
    if (!report.available) continue;
    if (!in_chain(report.name, device)) {
      report.reason += "; not requested (device=" + device + ")";
    } else if (!chosen.empty()) {
      report.reason += "; not selected: " + chosen + " comes first";
    } else if (device == "auto" && !attempt.auto_skip.empty()) {
      report.reason += "; auto passes over it: " + attempt.auto_skip;
    } else {
      report.selected = true;
      report.reason = why_selected(device, report.name) + "; " + report.reason;
      chosen = report.name;
    }
  }
  std::vector<BackendReport> reports;
  reports.reserve(attempts.size());
  for (auto& attempt : attempts) reports.push_back(std::move(attempt.report));
  return reports;
}

}  // namespace amanuensis::backends
