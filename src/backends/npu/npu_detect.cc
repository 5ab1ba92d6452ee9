#include "backends/npu/npu_detect.h"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace amanuensis::backends::npu {

namespace {

std::string first_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::vector<AccelDevice> find_accel_devices(const std::filesystem::path& root) {
  std::vector<AccelDevice> devices;
  std::error_code error;
  const auto dev_dir = root / "dev/accel";
  for (const auto& entry : std::filesystem::directory_iterator(dev_dir, error)) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with("accel")) continue;
    AccelDevice device;
    device.node = "/dev/accel/" + name;
    const auto sys = root / "sys/class/accel" / name / "device";
    std::error_code link_error;
    const auto driver = std::filesystem::read_symlink(sys / "driver", link_error);
    if (!link_error) device.driver = driver.filename().string();
    device.pci_vendor = first_line(sys / "vendor");
    device.pci_device = first_line(sys / "device");
    std::error_code slot_error;
    const auto resolved = std::filesystem::canonical(sys, slot_error);
    if (!slot_error) device.pci_slot = resolved.filename().string();
    devices.push_back(std::move(device));
  }
  std::sort(devices.begin(), devices.end(),
            [](const AccelDevice& a, const AccelDevice& b) { return a.node < b.node; });
  return devices;
}

bool is_xdna(const AccelDevice& device) {
  if (device.driver == "amdxdna") return true;
  return device.pci_vendor == "0x1022" &&
         (device.pci_device == "0x1502" || device.pci_device == "0x17f0");
}

std::string xdna_generation(const AccelDevice& device) {
  if (device.pci_device == "0x1502") return "XDNA (Phoenix / Hawk Point)";
  if (device.pci_device == "0x17f0") return "XDNA2 (Strix / Krackan)";
  return "XDNA (device " +
         (device.pci_device.empty() ? std::string("unknown") : device.pci_device) + ")";
}

}  // namespace amanuensis::backends::npu
