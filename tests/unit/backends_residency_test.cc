// Residency on the backends (kernels::Backend::make_resident): what crosses the bus, what is
// kept, and that memory rewritten after its release is read again. Same fixture and cases as
// backends_ops_test.cc, which instantiates them.
#include "unit/backends_ops_test.h"

namespace amanuensis::backends::ops_test {
namespace {

TEST_P(OpsTest, WeightsChangedAtTheSameAddressAreUploadedAgain) {
  const int m = 20, n = 30, k = 40;
  const auto x = random_values(static_cast<std::size_t>(m) * k, 1.0F, 7);
  auto w = random_values(static_cast<std::size_t>(n) * k, 0.1F, 8);
  std::vector<float> first(static_cast<std::size_t>(m) * n);
  backend_->linear({x.data(), m, k, k}, {w.data(), n, k, k}, {}, {first.data(), m, n, n});
  for (auto& v : w) v = -v;  // same buffer, new values
  std::vector<float> second(first.size());
  backend_->linear({x.data(), m, k, k}, {w.data(), n, k, k}, {}, {second.data(), m, n, n});
  for (std::size_t i = 0; i < first.size(); ++i)
    ASSERT_NEAR(second[i], -first[i], 1e-4 * (std::fabs(first[i]) + 1));
}

TEST_P(OpsTest, DeviceTrafficCountsWhatCrossesTheBus) {
  const std::string name = GetParam().name;
  const auto before = backend_->traffic();
  if (name == "cpu" || name.starts_with("npu")) {
    EXPECT_FALSE(before.has_value()) << "computes in host memory: nothing to count";
    return;
  }
  ASSERT_TRUE(before.has_value());
  constexpr int kRows = 12;
  constexpr int kIn = 40;
  constexpr int kOut = 24;
  const auto x = random_values(kRows * kIn, 1.0F, 31);
  const auto w = random_values(kOut * kIn, 0.1F, 32);
  const auto bias = random_values(kOut, 1.0F, 33);
  auto w_mutable = w;
  std::vector<float> y(kRows * kOut);
  const auto linear = [&] {
    backend_->linear({x.data(), kRows, kIn, kIn}, {w_mutable.data(), kOut, kIn, kIn}, bias,
                     {y.data(), kRows, kOut, kOut});
  };
  const auto since = [&](const kernels::DeviceTraffic& start) {
    auto now = *backend_->traffic();
    now -= start;
    return now;
  };
  const std::int64_t activations = kRows * kIn * 4;
  const std::int64_t constants = (kOut * kIn + kOut) * 4;
  // Not resident: the weights and the bias cross with every call.
  linear();
  auto start = *backend_->traffic();
  linear();
  EXPECT_GE(since(start).host_to_device_bytes, activations + constants);
  // Resident: they cross once, then only the activations do.
  backend_->make_resident(w_mutable.data(), w_mutable.size() * sizeof(float));
  backend_->make_resident(bias.data(), bias.size() * sizeof(float));
  start = *backend_->traffic();
  linear();
  EXPECT_GE(since(start).host_to_device_bytes, activations + constants);
  start = *backend_->traffic();
  linear();
  const auto steady = since(start);
  if (name == "opencl") {  // exactly the activations each way, and one wait for the result
    EXPECT_EQ(steady.host_to_device_bytes, activations);
    EXPECT_EQ(steady.device_to_host_bytes, kRows * kOut * 4);
    EXPECT_EQ(steady.syncs, 1);
  } else {
    EXPECT_LT(steady.host_to_device_bytes, activations + constants);
    EXPECT_GE(steady.device_to_host_bytes, kRows * kOut * 4);
    EXPECT_GE(steady.syncs, 1);
  }
  // make_resident_weight: the weights cross now, in the device's layout, and not with the call.
  const auto w2 = random_values(kOut * kIn, 0.1F, 34);
  start = *backend_->traffic();
  backend_->make_resident_weight({w2.data(), kOut, kIn, kIn});
  EXPECT_GE(since(start).host_to_device_bytes, kOut * kIn * 4);
  start = *backend_->traffic();
  backend_->linear({x.data(), kRows, kIn, kIn}, {w2.data(), kOut, kIn, kIn}, bias,
                   {y.data(), kRows, kOut, kOut});
  EXPECT_LT(since(start).host_to_device_bytes, activations + constants);
  backend_->release_resident(w2.data());
  // Released and rewritten in place: the next call reads the new weights, never the old copy.
  backend_->release_resident(w_mutable.data());
  for (auto& value : w_mutable) value = -value;
  linear();
  std::vector<float> want(y.size());
  reference_->linear({x.data(), kRows, kIn, kIn}, {w_mutable.data(), kOut, kIn, kIn}, bias,
                     {want.data(), kRows, kOut, kOut});
  for (std::size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], want[i], 1e-4 * (1.0 + std::abs(want[i]))) << "after release, at " << i;
  backend_->release_resident(bias.data());
}

// Beams sharing a prompt (AttentionProblem::shared_k and shared_v): the results of the prompt's
// rows stacked in front of each beam's own. Once the prompt is resident, OpenCL sends each call
// only the queries and the beams' own rows; released and rewritten, the new prompt is read.
TEST_P(OpsTest, AttentionManyOverASharedPrompt) {
  const int heads = 6;
  const int d = heads * 64;
  const int prompt = 37;
  const float scale = 0.125F;
  auto shared_k = random_values(static_cast<std::size_t>(prompt) * d, 1.0F, 61);
  const auto shared_v = random_values(static_cast<std::size_t>(prompt) * d, 1.0F, 62);
  std::vector<std::vector<float>> q, k, v, got, want;
  std::vector<AttentionProblem> problems;
  std::int64_t per_call = 0;  // bytes of the queries and the beams' own rows
  for (int beam = 0; beam < 3; ++beam) {
    const int own = 4 + beam;
    q.push_back(random_values(static_cast<std::size_t>(d), 1.0F, 63 + 3 * beam));
    k.push_back(random_values(static_cast<std::size_t>(own) * d, 1.0F, 64 + 3 * beam));
    v.push_back(random_values(static_cast<std::size_t>(own) * d, 1.0F, 65 + 3 * beam));
    got.emplace_back(d, -1.0F);
    per_call += static_cast<std::int64_t>(1 + 2 * own) * d * 4;
  }
  for (int beam = 0; beam < 3; ++beam) {
    const int own = 4 + beam;
    problems.push_back({.q = {q[beam].data(), 1, d, d},
                        .k = {k[beam].data(), own, d, d},
                        .v = {v[beam].data(), own, d, d},
                        .causal_offset = prompt + own - 1,
                        .out = {got[beam].data(), 1, d, d},
                        .shared_k = {shared_k.data(), prompt, d, d},
                        .shared_v = {shared_v.data(), prompt, d, d}});
  }
  const auto check = [&](const char* when) {
    std::vector<float> stacked_k, stacked_v, want_row(d);
    for (int beam = 0; beam < 3; ++beam) {
      const int keys = prompt + 4 + beam;
      stacked_k.assign(shared_k.begin(), shared_k.end());
      stacked_k.insert(stacked_k.end(), k[beam].begin(), k[beam].end());
      stacked_v.assign(shared_v.begin(), shared_v.end());
      stacked_v.insert(stacked_v.end(), v[beam].begin(), v[beam].end());
      reference_->attention({q[beam].data(), 1, d, d}, {stacked_k.data(), keys, d, d},
                            {stacked_v.data(), keys, d, d}, heads, scale, keys - 1,
                            {want_row.data(), 1, d, d});
      expect_close(got[beam], want_row, std::vector<double>(d, 1.0), GetParam().product_tolerance,
                   1e-6, when);
    }
  };
  backend_->attention_many(problems, heads, scale);
  check("prompt on the host");
  const auto bytes = shared_k.size() * sizeof(float);
  backend_->make_resident(shared_k.data(), bytes);
  backend_->make_resident(shared_v.data(), bytes);
  backend_->attention_many(problems, heads, scale);  // the prompt's copy is made here
  check("prompt resident");
  const auto before = backend_->traffic();
  backend_->attention_many(problems, heads, scale);
  check("prompt resident, again");
  if (GetParam().name == "opencl") {
    auto sent = *backend_->traffic();
    sent -= *before;
    EXPECT_EQ(sent.host_to_device_bytes, per_call) << "the prompt crosses once, not per call";
  }
  backend_->release_resident(shared_k.data());
  backend_->release_resident(shared_v.data());
  for (auto& value : shared_k) value = -value;
  backend_->attention_many(problems, heads, scale);
  check("prompt released and rewritten");
}

}  // namespace
}  // namespace amanuensis::backends::ops_test
