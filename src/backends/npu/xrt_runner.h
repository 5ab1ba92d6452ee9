// The NPU through XRT (AMD's Xilinx Runtime): what XRT sees, and a TileRunner that loads a matmul
// kernel binary (xclbin) and runs tiles through XRT buffer objects. Built when libxrt is found
// (AMANUENSIS_WITH_XRT); otherwise xrt_unbuilt.cc says why not.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/npu/gemm_tiling.h"

namespace amanuensis::backends::npu {

struct XrtStatus {
  bool built = false;    // false: this build has no XRT support
  unsigned devices = 0;  // devices XRT enumerates
  std::string reason;    // why there are none, when there are none
  std::vector<std::pair<std::string, std::string>> details;  // XRT's name etc. of device 0
};

// Asks XRT which devices it drives; never throws.
XrtStatus xrt_status();

// Where the NPU's GEMM kernel comes from, read from the environment:
//   AMANUENSIS_NPU_XCLBIN   the kernel binary (required)
//   AMANUENSIS_NPU_INSTS    its instruction sequence (mlir-aie's insts.txt / .bin), if it has one
//   AMANUENSIS_NPU_KERNEL   kernel name in the xclbin (default MLIR_AIE)
//   AMANUENSIS_NPU_TILE     the product shape it was built for, MxKxN (default 256x256x256)
struct NpuKernelConfig {
  std::filesystem::path xclbin;
  std::filesystem::path instructions;
  std::string kernel_name = "MLIR_AIE";
  TileShape tile{256, 256, 256};
};
NpuKernelConfig npu_kernel_config_from_env();

// Reads an instruction sequence: text with one 32-bit hex word per line (insts.txt), or raw
// little-endian words (any other extension). Throws amanuensis::Error when unreadable.
std::vector<std::uint32_t> read_instructions(const std::filesystem::path& path);

// Opens XRT device 0, loads the xclbin and makes the buffers; throws DeviceError when it cannot.
// The kernel is called as mlir-aie's matmul designs expect:
//   kernel(opcode 3, instructions bo, instruction count, A bo, B bo, C bo)
std::unique_ptr<TileRunner> make_xrt_runner(const NpuKernelConfig& config);

}  // namespace amanuensis::backends::npu
