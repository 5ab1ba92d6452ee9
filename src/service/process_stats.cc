#include "service/process_stats.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

namespace amanuensis::service {

namespace {

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Seconds since the epoch at which the machine booted (/proc/stat btime).
double boot_time_seconds() {
  std::istringstream in(read_text("/proc/stat"));
  std::string key;
  double value = 0.0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0.0;
}

std::uint64_t meminfo_bytes(const std::string& meminfo, const std::string& key) {
  const auto at = meminfo.find(key + ":");
  if (at == std::string::npos) return 0;
  std::istringstream in(meminfo.substr(at + key.size() + 1));
  std::uint64_t kib = 0;
  in >> kib;
  return kib * 1024;
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats stats;
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));

  // /proc/self/stat: the command name (field 2) may contain spaces, so read after its ')'.
  const std::string stat = read_text("/proc/self/stat");
  const auto paren = stat.rfind(')');
  if (paren != std::string::npos && ticks > 0) {
    std::istringstream in(stat.substr(paren + 2));
    std::vector<std::string> fields;  // fields[0] is field 3 (state)
    for (std::string field; in >> field;) fields.push_back(field);
    const auto field = [&](std::size_t number) {  // 1-based numbering of proc(5)
      return number - 3 < fields.size() ? std::strtod(fields[number - 3].c_str(), nullptr) : 0.0;
    };
    if (fields.size() >= 22) {
      stats.cpu_seconds = (field(14) + field(15)) / ticks;
      stats.threads = static_cast<int>(field(20));
      stats.start_time_seconds = boot_time_seconds() + field(22) / ticks;
    }
  }

  std::istringstream statm(read_text("/proc/self/statm"));
  double size_pages = 0.0;
  double resident_pages = 0.0;
  if (statm >> size_pages >> resident_pages) {
    stats.virtual_bytes = size_pages * page;
    stats.resident_bytes = resident_pages * page;
  }

  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++stats.open_fds;
  }
  return stats;
}

CpuInfo read_cpu_info() {
  // The flags that say which vector units the kernels could use; the rest is noise here.
  static const std::set<std::string> kSimd = {
      "sse2",        "sse3",     "ssse3",       "sse4_1",   "sse4_2",   "avx",      "avx2",
      "fma",         "f16c",     "avx512f",     "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
      "avx512_bf16", "avx_vnni", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "neon",
      "asimd",       "asimdhp",  "asimddp",     "sve",      "sve2",     "i8mm",     "bf16"};
  CpuInfo info;
  std::istringstream in(read_text("/proc/cpuinfo"));
  std::set<std::string> found;
  bool flags_read = false;
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const auto value = colon + 2 <= line.size() ? line.substr(colon + 2) : std::string();
    if (key == "processor") {
      ++info.logical_cores;
    } else if ((key == "model name" || key == "Model") && info.model_name.empty()) {
      info.model_name = value;
    } else if ((key == "flags" || key == "Features") && !flags_read) {
      flags_read = true;  // every core lists the same flags
      std::istringstream flags(value);
      for (std::string flag; flags >> flag;) {
        if (kSimd.contains(flag)) found.insert(flag);
      }
    }
  }
  if (info.logical_cores == 0)
    info.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  // Kept in the order of kSimd's sorting: stable output for clients that diff /status.
  info.simd.assign(found.begin(), found.end());
  return info;
}

MemoryInfo read_memory_info() {
  const std::string meminfo = read_text("/proc/meminfo");
  return {meminfo_bytes(meminfo, "MemTotal"), meminfo_bytes(meminfo, "MemAvailable")};
}

}  // namespace amanuensis::service
