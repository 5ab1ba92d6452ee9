// Finding AMD XDNA NPUs: the amdxdna kernel driver exposes each as /dev/accel/accelN, with its
// PCI identity under /sys/class/accel/accelN/device. Plain file-system reads, so that detection
// works (and is tested, on a fake tree) without XRT.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace amanuensis::backends::npu {

struct AccelDevice {
  std::string node;        // "/dev/accel/accel0"
  std::string driver;      // "amdxdna" (the name of the device's driver link), or empty
  std::string pci_vendor;  // "0x1022"
  std::string pci_device;  // "0x1502"
  std::string pci_slot;    // "0000:c6:00.1"
};

// Every /dev/accel/accel* under `root` ("/" normally), sorted by name.
std::vector<AccelDevice> find_accel_devices(const std::filesystem::path& root = "/");

// True for an AMD NPU: bound to amdxdna, or an AMD PCI function with a known NPU device id.
bool is_xdna(const AccelDevice& device);

// "XDNA (Phoenix / Hawk Point)", "XDNA2 (Strix / Krackan)", or "XDNA (device 0x....)".
std::string xdna_generation(const AccelDevice& device);

}  // namespace amanuensis::backends::npu
