// Facts about the host that backend details show: CPU model, cores, memory. Linux /proc files;
// empty or 0 where they cannot be read.
#pragma once

#include <cstdint>
#include <string>

namespace amanuensis::backends {

std::string cpu_model_name();
int logical_cores();
std::uint64_t total_memory_bytes();
// "7.8 GiB", "512 MiB": a byte count for people.
std::string format_bytes(std::uint64_t bytes);

}  // namespace amanuensis::backends
