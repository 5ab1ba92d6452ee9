// What the kernel knows about this process and machine, read from /proc: CPU time and resident
// memory for /metrics, CPU model and memory for /status. Linux only, like the service.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace amanuensis::service {

struct ProcessStats {
  double cpu_seconds = 0.0;     // user + system
  double resident_bytes = 0.0;  // RSS
  double virtual_bytes = 0.0;
  double start_time_seconds = 0.0;  // since the Unix epoch
  int threads = 0;
  int open_fds = 0;
};

struct CpuInfo {
  std::string model_name;  // "AMD EPYC", ...; empty when /proc/cpuinfo does not say
  int logical_cores = 0;
  std::vector<std::string> simd;  // the vector extensions among the CPU's flags (avx2, neon, ...)
};

struct MemoryInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
};

// Each reader returns zeros / empty fields for whatever it cannot read, and never throws.
ProcessStats read_process_stats();
CpuInfo read_cpu_info();
MemoryInfo read_memory_info();

}  // namespace amanuensis::service
