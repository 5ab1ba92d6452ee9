#include "backends/npu/gemm_tiling.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "amanuensis/amanuensis.h"

namespace amanuensis::backends::npu {

namespace {

int blocks(int size, int tile) { return (size + tile - 1) / tile; }

}  // namespace

TileShape parse_tile_shape(const std::string& text) {
  // Three positive decimal numbers joined by 'x', nothing else (std::from_chars reports overflow,
  // which sscanf would not).
  int values[3] = {0, 0, 0};
  const char* at = text.data();
  const char* const end = text.data() + text.size();
  bool ok = true;
  for (int i = 0; i < 3 && ok; ++i) {
    if (i > 0) {
      ok = at != end && *at == 'x';
      if (!ok) break;
      ++at;
    }
    const auto [next, error] = std::from_chars(at, end, values[i]);
    ok = error == std::errc() && next != at && values[i] > 0;
    at = next;
  }
  if (!ok || at != end) throw Error("tile shape '" + text + "': expected MxKxN, e.g. 256x256x256");
  return TileShape{values[0], values[1], values[2]};
}

std::uint16_t to_bf16(float value) {
  auto bits = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest, ties to even
  return static_cast<std::uint16_t>(bits >> 16);
}

float from_bf16(std::uint16_t value) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(value) << 16);
}

std::vector<TileIndex> plan_tiles(int rows, int inner, int cols, TileShape shape) {
  std::vector<TileIndex> tiles;
  for (int r = 0; r < rows; r += shape.m) {
    for (int c = 0; c < cols; c += shape.n) {
      for (int i = 0; i < inner; i += shape.k) tiles.push_back({r, i, c});
    }
  }
  return tiles;
}

void pack_a(kernels::MatrixView x, int row0, int inner0, TileShape shape,
            std::span<std::uint16_t> out) {
  std::fill(out.begin(), out.end(), std::uint16_t{0});
  const int rows = std::min(shape.m, x.rows - row0);
  const int cols = std::min(shape.k, x.cols - inner0);
  for (int r = 0; r < rows; ++r) {
    const float* source = x.data + static_cast<std::size_t>(row0 + r) * x.ld + inner0;
    std::uint16_t* target = out.data() + static_cast<std::size_t>(r) * shape.k;
    for (int c = 0; c < cols; ++c) target[c] = to_bf16(source[c]);
  }
}

void pack_b_from_weight(kernels::MatrixView w, int inner0, int col0, TileShape shape,
                        std::span<std::uint16_t> out) {
  std::fill(out.begin(), out.end(), std::uint16_t{0});
  const int inner = std::min(shape.k, w.cols - inner0);
  const int cols = std::min(shape.n, w.rows - col0);
  for (int j = 0; j < cols; ++j) {
    const float* row = w.data + static_cast<std::size_t>(col0 + j) * w.ld + inner0;
    for (int i = 0; i < inner; ++i)
      out[static_cast<std::size_t>(i) * shape.n + j] = to_bf16(row[i]);
  }
}

std::span<const std::uint16_t> PackedWeight::tile(int inner_block, int col_block) const {
  const std::size_t size = static_cast<std::size_t>(shape.k) * shape.n;
  return {tiles.data() + (static_cast<std::size_t>(col_block) * inner_blocks + inner_block) * size,
          size};
}

PackedWeight pack_weight(kernels::MatrixView w, TileShape shape) {
  PackedWeight packed;
  packed.shape = shape;
  packed.inner_blocks = blocks(w.cols, shape.k);
  packed.col_blocks = blocks(w.rows, shape.n);
  const std::size_t size = static_cast<std::size_t>(shape.k) * shape.n;
  packed.tiles.resize(size * packed.inner_blocks * packed.col_blocks);
  for (int j = 0; j < packed.col_blocks; ++j) {
    for (int i = 0; i < packed.inner_blocks; ++i) {
      pack_b_from_weight(
          w, i * shape.k, j * shape.n, shape,
          {packed.tiles.data() + (static_cast<std::size_t>(j) * packed.inner_blocks + i) * size,
           size});
    }
  }
  return packed;
}

void accumulate_c(std::span<const float> c, int row0, int col0, TileShape shape,
                  kernels::MutableMatrixView y) {
  const int rows = std::min(shape.m, y.rows - row0);
  const int cols = std::min(shape.n, y.cols - col0);
  for (int r = 0; r < rows; ++r) {
    float* target = y.data + static_cast<std::size_t>(row0 + r) * y.ld + col0;
    const float* source = c.data() + static_cast<std::size_t>(r) * shape.n;
    for (int j = 0; j < cols; ++j) target[j] += source[j];
  }
}

namespace {

class ReferenceTileRunner final : public TileRunner {
 public:
  explicit ReferenceTileRunner(TileShape shape) : shape_(shape) {}
  [[nodiscard]] TileShape shape() const override { return shape_; }
  [[nodiscard]] std::string describe() const override {
    return "cpu reference tiles " + std::to_string(shape_.m) + "x" + std::to_string(shape_.k) +
           "x" + std::to_string(shape_.n);
  }
  void run(std::span<const std::uint16_t> a, std::span<const std::uint16_t> b,
           std::span<float> c) override {
    std::fill(c.begin(), c.end(), 0.0F);
    for (int r = 0; r < shape_.m; ++r) {
      float* row = c.data() + static_cast<std::size_t>(r) * shape_.n;
      for (int i = 0; i < shape_.k; ++i) {
        const float av = from_bf16(a[static_cast<std::size_t>(r) * shape_.k + i]);
        if (av == 0.0F) continue;
        const std::uint16_t* b_row = b.data() + static_cast<std::size_t>(i) * shape_.n;
        for (int j = 0; j < shape_.n; ++j) row[j] += av * from_bf16(b_row[j]);
      }
    }
  }

 private:
  TileShape shape_;
};

}  // namespace

std::unique_ptr<TileRunner> make_reference_tile_runner(TileShape shape) {
  return std::make_unique<ReferenceTileRunner>(shape);
}

void tiled_linear(TileRunner& runner, kernels::MatrixView x, const PackedWeight& w,
                  std::span<const float> bias, kernels::MutableMatrixView y) {
  const auto shape = runner.shape();
  if (shape.m != w.shape.m || shape.k != w.shape.k || shape.n != w.shape.n) {
    throw Error("weight packed for another tile shape");
  }
  for (int r = 0; r < y.rows; ++r) {
    float* row = y.data + static_cast<std::size_t>(r) * y.ld;
    if (bias.empty()) {
      std::fill(row, row + y.cols, 0.0F);
    } else {
      std::copy(bias.begin(), bias.begin() + y.cols, row);
    }
  }
  std::vector<std::uint16_t> a(static_cast<std::size_t>(shape.m) * shape.k);
  std::vector<float> c(static_cast<std::size_t>(shape.m) * shape.n);
  for (const auto& tile : plan_tiles(x.rows, x.cols, y.cols, shape)) {
    pack_a(x, tile.row0, tile.inner0, shape, a);
    runner.run(a, w.tile(tile.inner0 / shape.k, tile.col0 / shape.n), c);
    accumulate_c(c, tile.row0, tile.col0, shape, y);
  }
}

std::optional<std::string> check_linear_samples(kernels::MatrixView x, kernels::MatrixView w,
                                                std::span<const float> bias, kernels::MatrixView y,
                                                int samples, double tolerance, std::uint64_t seed) {
  std::uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  const auto next = [&](int bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % static_cast<std::uint64_t>(bound));
  };
  for (int s = 0; s < samples; ++s) {
    const int r = next(y.rows);
    const int c = next(y.cols);
    double exact = bias.empty() ? 0.0 : bias[c];
    double magnitude = std::fabs(exact);
    for (int i = 0; i < x.cols; ++i) {
      const double term = static_cast<double>(x.data[static_cast<std::size_t>(r) * x.ld + i]) *
                          w.data[static_cast<std::size_t>(c) * w.ld + i];
      exact += term;
      magnitude += std::fabs(term);
    }
    const double got = y.data[static_cast<std::size_t>(r) * y.ld + c];
    if (!(std::fabs(got - exact) <= tolerance * magnitude + 1e-30)) {
      char message[200];
      std::snprintf(message, sizeof message,
                    "y[%d, %d] = %.6g, expected %.6g (error %.3g of the terms' magnitude %.3g; "
                    "tolerance %.3g)",
                    r, c, got, exact, std::fabs(got - exact) / std::max(magnitude, 1e-30),
                    magnitude, tolerance);
      return std::string(message);
    }
  }
  return std::nullopt;
}

}  // namespace amanuensis::backends::npu
