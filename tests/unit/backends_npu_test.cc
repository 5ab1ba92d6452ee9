// The NPU backend's host side, which runs anywhere: bfloat16 conversion, tiling, packing, the
// offloaded product through an emulated tile runner, result checks, detection of XDNA devices on
// a fake /dev + /sys tree, and reading the kernel configuration. Tolerance of offloaded products:
// 1e-2 of the sum of |terms| (bfloat16 inputs keep 8 significant bits; sums are float32).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "backends/npu/gemm_tiling.h"
#include "backends/npu/npu_backend.h"
#include "backends/npu/npu_detect.h"
#include "backends/npu/xrt_runner.h"
#include "backends/provider.h"
#include "backends/registry.h"
#include "support/random_values.h"

namespace amanuensis::backends::npu {
namespace {

using amanuensis::test_support::random_values;

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(to_bf16(1.0F), 0x3f80);
  EXPECT_EQ(to_bf16(-2.0F), 0xc000);
  EXPECT_EQ(to_bf16(1.0F + 1.0F / 256), 0x3f80);  // halfway, even below: down
  EXPECT_EQ(to_bf16(1.0F + 3.0F / 256), 0x3f82);  // halfway, even above: up
  EXPECT_EQ(to_bf16(1.0F + 1.5F / 256), 0x3f81);  // above halfway: up
  EXPECT_TRUE(std::isnan(from_bf16(to_bf16(NAN))));
  EXPECT_EQ(from_bf16(to_bf16(0.15625F)), 0.15625F);  // exactly representable
  for (const float x : random_values(1000, 10.0F, 1)) {
    ASSERT_NEAR(from_bf16(to_bf16(x)), x, std::fabs(x) / 256.0F) << x;
  }
}

TEST(Tiling, PlanCoversEveryOutputAndInnerBlockOnce) {
  const TileShape shape{32, 64, 48};
  const int rows = 100, inner = 70, cols = 50;
  const auto tiles = plan_tiles(rows, inner, cols, shape);
  EXPECT_EQ(tiles.size(), 4U * 2U * 2U);
  std::vector<int> hits(static_cast<std::size_t>(rows) * inner * cols, 0);
  for (const auto& t : tiles) {
    for (int r = t.row0; r < std::min(rows, t.row0 + shape.m); ++r) {
      for (int i = t.inner0; i < std::min(inner, t.inner0 + shape.k); ++i) {
        for (int c = t.col0; c < std::min(cols, t.col0 + shape.n); ++c)
          ++hits[(static_cast<std::size_t>(r) * inner + i) * cols + c];
      }
    }
  }
  for (const int h : hits) ASSERT_EQ(h, 1);
  // Inner blocks of one output block come one after another, so their sums accumulate in turn.
  EXPECT_EQ(tiles[0].row0, tiles[1].row0);
  EXPECT_EQ(tiles[0].col0, tiles[1].col0);
  EXPECT_EQ(tiles[1].inner0, 64);
}

TEST(Packing, PadsEdgesWithZerosAndTransposesWeights) {
  const TileShape shape{4, 4, 4};
  std::vector<float> x = {1, 2, 3, 4, 5, 6};  // 2 x 3, stored with ld 3
  std::vector<std::uint16_t> a(16, 0xffff);
  pack_a({x.data(), 2, 3, 3}, 0, 0, shape, a);
  EXPECT_EQ(from_bf16(a[0]), 1.0F);
  EXPECT_EQ(from_bf16(a[2]), 3.0F);
  EXPECT_EQ(a[3], 0);  // column 3 is padding
  EXPECT_EQ(from_bf16(a[4]), 4.0F);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(a[i], 0);  // rows 2 and 3 are padding

  // W [out 3, in 2]: B = W^T is [2, 3].
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  std::vector<std::uint16_t> b(16, 0xffff);
  pack_b_from_weight({w.data(), 3, 2, 2}, 0, 0, shape, b);
  EXPECT_EQ(from_bf16(b[0 * 4 + 0]), 1.0F);  // B[0][0] = W[0][0]
  EXPECT_EQ(from_bf16(b[0 * 4 + 1]), 3.0F);  // B[0][1] = W[1][0]
  EXPECT_EQ(from_bf16(b[1 * 4 + 2]), 6.0F);  // B[1][2] = W[2][1]
  EXPECT_EQ(b[0 * 4 + 3], 0);
  EXPECT_EQ(b[2 * 4 + 0], 0);
}

// Tiled product through the emulated runner vs float64 on the original (float32) inputs.
TEST(TiledLinear, MatchesTheExactProductWithinBf16) {
  for (const auto& [m, n, k, shape] : {std::tuple{100, 50, 70, TileShape{32, 64, 48}},
                                       {64, 96, 128, TileShape{32, 64, 48}},
                                       {1, 3, 5, TileShape{16, 16, 16}}}) {
    SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
    const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 2);
    const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 3);
    const auto bias = random_values(n, 1.0F, 4);
    auto runner = make_reference_tile_runner(shape);
    const auto packed = pack_weight({w.data(), n, k, k}, shape);
    std::vector<float> y(static_cast<std::size_t>(m) * n, NAN);
    tiled_linear(*runner, {x.data(), m, k, k}, packed, bias, {y.data(), m, n, n});
    for (int r = 0; r < m; ++r) {
      for (int c = 0; c < n; ++c) {
        double exact = bias[c];
        double magnitude = std::fabs(bias[c]);
        for (int i = 0; i < k; ++i) {
          const double term = static_cast<double>(x[static_cast<std::size_t>(r) * k + i]) *
                              w[static_cast<std::size_t>(c) * k + i];
          exact += term;
          magnitude += std::fabs(term);
        }
        ASSERT_NEAR(y[static_cast<std::size_t>(r) * n + c], exact, 1e-2 * magnitude);
      }
    }
    EXPECT_FALSE(check_linear_samples({x.data(), m, k, k}, {w.data(), n, k, k}, bias,
                                      {y.data(), m, n, n}, 32, 1e-2, 7));
  }
}

TEST(ResultCheck, CatchesAWrongProduct) {
  const int m = 40, n = 30, k = 50;
  const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 5);
  const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 6);
  std::vector<float> y(static_cast<std::size_t>(m) * n);
  kernels::make_cpu_backend(1)->linear({x.data(), m, k, k}, {w.data(), n, k, k}, {},
                                       {y.data(), m, n, n});
  EXPECT_FALSE(check_linear_samples({x.data(), m, k, k}, {w.data(), n, k, k}, {},
                                    {y.data(), m, n, n}, 16, 1e-4, 1));
  for (auto& v : y) v = v * 1.5F + 0.1F;  // garbage that still looks like numbers
  const auto failure = check_linear_samples({x.data(), m, k, k}, {w.data(), n, k, k}, {},
                                            {y.data(), m, n, n}, 16, 1e-2, 1);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->find("expected"), std::string::npos) << *failure;
  y[0] = NAN;
  EXPECT_TRUE(check_linear_samples({x.data(), m, k, k}, {w.data(), n, k, k}, {},
                                   {y.data(), m, n, n}, m * n, 1.0, 1));
}

// A kernel binary that computes something else (here: a transposed B).
class WrongRunner final : public TileRunner {
 public:
  explicit WrongRunner(TileShape shape) : shape_(shape) {}
  [[nodiscard]] TileShape shape() const override { return shape_; }
  [[nodiscard]] std::string describe() const override { return "wrong"; }
  void run(std::span<const std::uint16_t> a, std::span<const std::uint16_t> b,
           std::span<float> c) override {
    std::vector<std::uint16_t> bt(b.size());
    for (int i = 0; i < shape_.k; ++i) {
      for (int j = 0; j < shape_.n; ++j)
        bt[static_cast<std::size_t>(j) * shape_.k + i] =
            b[static_cast<std::size_t>(i) * shape_.n + j];
    }
    make_reference_tile_runner(shape_)->run(a, bt, c);
  }

 private:
  TileShape shape_;
};

TEST(NpuBackend, VerifiesItsKernelAndFailsOverWhenResultsAreWrong) {
  const TileShape shape{16, 16, 16};
  auto good = make_reference_tile_runner(shape);
  EXPECT_NO_THROW(verify_runner(*good, 2e-2));
  WrongRunner wrong(shape);
  EXPECT_THROW(verify_runner(wrong, 2e-2), DeviceError);

  auto backend =
      make_npu_backend(std::make_unique<WrongRunner>(shape), kernels::make_cpu_backend(1),
                       {.min_rows = 8, .check_samples = 16, .check_tolerance = 2e-2});
  EXPECT_EQ(backend->name(), "npu");
  const int m = 20, n = 16, k = 16;
  const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 8);
  const auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 9);
  std::vector<float> y(static_cast<std::size_t>(m) * n);
  try {
    backend->linear({x.data(), m, k, k}, {w.data(), n, k, k}, {}, {y.data(), m, n, n});
    FAIL() << "a wrong NPU product went unnoticed";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("NPU result check failed"), std::string::npos) << e.what();
  }
  // Fewer rows than min_rows stay on the CPU, so they are right even with a broken NPU.
  std::vector<float> small(static_cast<std::size_t>(2) * n);
  std::vector<float> want(small.size());
  backend->linear({x.data(), 2, k, k}, {w.data(), n, k, k}, {}, {small.data(), 2, n, n});
  kernels::make_cpu_backend(1)->linear({x.data(), 2, k, k}, {w.data(), n, k, k}, {},
                                       {want.data(), 2, n, n});
  EXPECT_EQ(small, want);
}

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        std::filesystem::temp_directory_path() / ("amanuensis-npu-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "dev/accel");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // accelN bound to `driver`, PCI vendor/device as given, at PCI slot `slot`.
  void add_device(int n, const std::string& driver, const std::string& vendor,
                  const std::string& device, const std::string& slot) {
    const auto name = "accel" + std::to_string(n);
    std::ofstream(root_ / "dev/accel" / name).put('\n');
    const auto pci = root_ / "sys/devices/pci0000:00" / slot;
    std::filesystem::create_directories(pci);
    std::ofstream(pci / "vendor") << vendor << '\n';
    std::ofstream(pci / "device") << device << '\n';
    std::filesystem::create_directories(root_ / "sys/bus/pci/drivers" / driver);
    std::filesystem::create_directory_symlink(root_ / "sys/bus/pci/drivers" / driver,
                                              pci / "driver");
    std::filesystem::create_directories(root_ / "sys/class/accel" / name);
    std::filesystem::create_directory_symlink(pci, root_ / "sys/class/accel" / name / "device");
  }

  std::filesystem::path root_;
};

TEST_F(FakeTree, FindsAnXdnaNpuAndItsPciIdentity) {
  add_device(0, "habanalabs", "0x1da3", "0x1020", "0000:01:00.0");
  add_device(1, "amdxdna", "0x1022", "0x1502", "0000:c6:00.1");
  const auto devices = find_accel_devices(root_);
  ASSERT_EQ(devices.size(), 2U);
  EXPECT_EQ(devices[0].node, "/dev/accel/accel0");
  EXPECT_FALSE(is_xdna(devices[0]));
  EXPECT_EQ(devices[1].driver, "amdxdna");
  EXPECT_EQ(devices[1].pci_vendor, "0x1022");
  EXPECT_EQ(devices[1].pci_slot, "0000:c6:00.1");
  EXPECT_TRUE(is_xdna(devices[1]));
  EXPECT_EQ(xdna_generation(devices[1]), "XDNA (Phoenix / Hawk Point)");
}

TEST_F(FakeTree, KnowsAnNpuByItsPciIdWithoutTheDriverName) {
  add_device(0, "vfio-pci", "0x1022", "0x17f0", "0000:c5:00.1");
  const auto devices = find_accel_devices(root_);
  ASSERT_EQ(devices.size(), 1U);
  EXPECT_TRUE(is_xdna(devices[0]));
  EXPECT_EQ(xdna_generation(devices[0]), "XDNA2 (Strix / Krackan)");
}

TEST_F(FakeTree, NoAccelDevicesIsAnEmptyList) {
  EXPECT_TRUE(find_accel_devices(root_).empty());
  EXPECT_TRUE(find_accel_devices(root_ / "missing").empty());
}

TEST(NpuConfig, ParsesTileShapesAndInstructionFiles) {
  const auto shape = parse_tile_shape("256x128x64");
  EXPECT_EQ(shape.m, 256);
  EXPECT_EQ(shape.k, 128);
  EXPECT_EQ(shape.n, 64);
  for (const char* bad :
       {"256x128", "0x1x1", "axbxc", "1x2x3x4", "", "99999999999x1x1", "1x2x3 ", "-1x2x3", "1xx2"})
    EXPECT_THROW(parse_tile_shape(bad), Error) << bad;

  const auto dir = std::filesystem::temp_directory_path();
  const auto text = dir / ("amanuensis-insts-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(text) << "# comment\n00000011\nDEADBEEF\n\n0x10\n";
  EXPECT_EQ(read_instructions(text), (std::vector<std::uint32_t>{0x11, 0xdeadbeef, 0x10}));
  const auto binary = dir / ("amanuensis-insts-" + std::to_string(::getpid()) + ".bin");
  std::ofstream(binary, std::ios::binary).write("\x01\x02\x03\x04\xff\x00\x00\x00", 8);
  EXPECT_EQ(read_instructions(binary), (std::vector<std::uint32_t>{0x04030201, 0xff}));
  std::filesystem::remove(text);
  std::filesystem::remove(binary);
  EXPECT_THROW(read_instructions(dir / "no-such-insts.txt"), Error);
}

TEST(NpuProvider, SaysWhyItIsUnavailable) {
  const auto& provider = *providers()[0];
  ASSERT_EQ(provider.name(), "npu");
  const auto probe = provider.probe();
  if (probe.available) GTEST_SKIP() << "an NPU with a kernel is configured here: " << probe.reason;
  EXPECT_FALSE(probe.reason.empty());
  if (find_accel_devices().empty()) {
    EXPECT_NE(probe.reason.find("/dev/accel"), std::string::npos) << probe.reason;
  }
  const auto xrt = xrt_status();  // never throws, also without a device or XRT
  if (xrt.devices == 0) {
    EXPECT_FALSE(xrt.reason.empty());
  }
}

}  // namespace
}  // namespace amanuensis::backends::npu
