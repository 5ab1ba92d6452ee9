// The host side of the NPU's GEMM offload, in plain C++ so that it is tested on any machine.
//
// An NPU matmul kernel (an xclbin built with AMD's mlir-aie/IRON tools) multiplies matrices of
// one fixed shape: C[m, n] = A[m, k] B[k, n], A and B bfloat16 row-major, C float32. A dense layer
// y = x W^T + bias of any size becomes a grid of such tiles: x is cut into [m, k] blocks, W^T into
// [k, n] blocks (packed once per weight), partial products over k are summed here in float32,
// and zero padding fills the edges. Results are spot-checked against a float64 recomputation,
// because a wrong kernel binary otherwise shows up only as garbled transcripts.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace amanuensis::backends::npu {

struct TileShape {
  int m = 0;
  int k = 0;
  int n = 0;
};

// Parses "MxKxN" (e.g. "256x256x256"); throws amanuensis::Error otherwise.
TileShape parse_tile_shape(const std::string& text);

// bfloat16 <-> float32, round to nearest even (NaN stays NaN).
std::uint16_t to_bf16(float value);
float from_bf16(std::uint16_t value);

// The tiles of a [rows, inner] x [inner, cols] product, row blocks outermost and the inner
// dimension innermost, so that consecutive tiles add into the same output block.
struct TileIndex {
  int row0 = 0;
  int inner0 = 0;
  int col0 = 0;
};
std::vector<TileIndex> plan_tiles(int rows, int inner, int cols, TileShape shape);

// x[row0 .. row0 + m, inner0 .. inner0 + k] as bfloat16, zero outside x. out: m * k values.
void pack_a(kernels::MatrixView x, int row0, int inner0, TileShape shape,
            std::span<std::uint16_t> out);

// B = W^T for a weight W [out, in] as dense layers store it: B[i][j] = W[col0 + j][inner0 + i],
// k * n bfloat16 values, zero outside W.
void pack_b_from_weight(kernels::MatrixView w, int inner0, int col0, TileShape shape,
                        std::span<std::uint16_t> out);

// Every B tile of a weight, packed once: tile (inner block i, column block j) starts at
// ((j * inner_blocks) + i) * k * n.
struct PackedWeight {
  TileShape shape;
  int inner_blocks = 0;
  int col_blocks = 0;
  std::vector<std::uint16_t> tiles;
  [[nodiscard]] std::span<const std::uint16_t> tile(int inner_block, int col_block) const;
};
PackedWeight pack_weight(kernels::MatrixView w, TileShape shape);

// y[row0 .., col0 ..] += c (an m x n tile), only where y has rows and columns.
void accumulate_c(std::span<const float> c, int row0, int col0, TileShape shape,
                  kernels::MutableMatrixView y);

// Runs one tile product on a device. Implementations: the XRT runner (xrt_runner.cc) and the
// CPU reference below.
class TileRunner {
 public:
  virtual ~TileRunner() = default;
  [[nodiscard]] virtual TileShape shape() const = 0;
  [[nodiscard]] virtual std::string describe() const = 0;
  // c[m x n] = a[m x k] b[k x n]; throws DeviceError when the device fails.
  virtual void run(std::span<const std::uint16_t> a, std::span<const std::uint16_t> b,
                   std::span<float> c) = 0;
};

// The tile product on the CPU (bfloat16 inputs, float32 sums): what a correct kernel returns, up
// to summation order. Unit tests run the whole offload path through it.
std::unique_ptr<TileRunner> make_reference_tile_runner(TileShape shape);

// y = x W^T + bias through `runner`, with W already packed.
void tiled_linear(TileRunner& runner, kernels::MatrixView x, const PackedWeight& w,
                  std::span<const float> bias, kernels::MutableMatrixView y);

// Recomputes `samples` entries of y = x W^T + bias (positions from `seed`) in float64 and
// compares: |y - exact| <= tolerance * (sum |x_i w_i| + |bias|). Returns what failed, if any.
std::optional<std::string> check_linear_samples(kernels::MatrixView x, kernels::MatrixView w,
                                                std::span<const float> bias, kernels::MatrixView y,
                                                int samples, double tolerance, std::uint64_t seed);

}  // namespace amanuensis::backends::npu
