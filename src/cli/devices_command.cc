// amanuensis devices: every compute backend this build knows, whether it can run here and why,
// its device details, and the one a model would be loaded on (docs/backends.md).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"

namespace amanuensis::cli {

namespace {

struct DevicesArguments {
  std::string device = "auto";
  bool json = false;
};

void print_text(const std::vector<BackendReport>& reports, const std::string& device) {
  std::string chosen = "none";
  for (const auto& report : reports) {
    if (report.selected) chosen = report.name;
  }
  std::printf("device=%s selects: %s\n\n", device.c_str(), chosen.c_str());
  for (const auto& report : reports) {
    std::printf("%s %-7s %-11s %s\n", report.selected ? "*" : " ", report.name.c_str(),
                report.available ? "available" : "unavailable", report.reason.c_str());
    for (const auto& [key, value] : report.details) {
      std::printf("      %-14s %s\n", (key + ":").c_str(), value.c_str());
    }
  }
}

void print_json(const std::vector<BackendReport>& reports, const std::string& device) {
  nlohmann::ordered_json backends = nlohmann::ordered_json::array();
  std::string chosen;
  for (const auto& report : reports) {
    nlohmann::ordered_json details = nlohmann::ordered_json::object();
    for (const auto& [key, value] : report.details) details[key] = value;
    backends.push_back({{"name", report.name},
                        {"available", report.available},
                        {"selected", report.selected},
                        {"reason", report.reason},
                        {"details", details}});
    if (report.selected) chosen = report.name;
  }
  const nlohmann::ordered_json out = {
      {"device", device}, {"selected", chosen}, {"backends", backends}};
  std::cout << out.dump(2) << '\n';
}

}  // namespace

CommandAction add_devices_command(CLI::App& app) {
  auto args = std::make_shared<DevicesArguments>();
  auto* command = app.add_subcommand(
      "devices",
      "List the compute backends (npu, cuda, opencl, cpu): available or not, why, and details");
  command->add_option("--device", args->device, "Show what this --device value would select")
      ->envname("AMANUENSIS_DEVICE")
      ->capture_default_str();
  command->add_flag("--json", args->json, "Print JSON instead of text");
  return [args] {
    const auto reports = list_backends(args->device);
    if (args->json) {
      print_json(reports, args->device);
    } else {
      print_text(reports, args->device);
    }
    return 0;
  };
}

}  // namespace amanuensis::cli
