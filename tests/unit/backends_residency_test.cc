// Residency on the backends (kernels::Backend::make_resident, make_resident_rows): what crosses
// the bus, what is kept, and that memory rewritten after its release is read again. Same fixture
// and cases as backends_ops_test.cc, which instantiates them.
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

// A beam's own self-attention rows, resident rows (Backend::make_resident_rows): appended one per
// step, each sent once; a beam duplicated by beam search copies its rows on the device; rows
// released and rewritten at the same address are read again.
TEST_P(OpsTest, ResidentRowsCrossOnceAndFollowTheirCopies) {
  const int heads = 6;
  const int d = heads * 64;
  const int capacity = 16;
  const int prompt = 9;
  const float scale = 0.125F;
  const auto floats = static_cast<std::size_t>(capacity) * d;
  const auto shared_k = random_values(static_cast<std::size_t>(prompt) * d, 1.0F, 71);
  const auto shared_v = random_values(static_cast<std::size_t>(prompt) * d, 1.0F, 72);
  std::vector<float> k0 = random_values(floats, 1.0F, 73), v0 = random_values(floats, 1.0F, 74);
  std::vector<float> k1(floats), v1(floats);
  const auto q = random_values(static_cast<std::size_t>(d), 1.0F, 75);
  std::vector<float> got(d), want(d);
  const bool counts = GetParam().name == "opencl";
  // Attention of q over the prompt (when `with_prompt`) then rows [0, rows) of k, v: checks the
  // result, and returns the bytes sent.
  const auto step = [&](std::vector<float>& k, std::vector<float>& v, int rows, bool with_prompt,
                        const char* when) {
    const int shared = with_prompt ? prompt : 0;
    const AttentionProblem problem{
        .q = {q.data(), 1, d, d},
        .k = {k.data(), rows, d, d},
        .v = {v.data(), rows, d, d},
        .causal_offset = shared + rows - 1,
        .out = {got.data(), 1, d, d},
        .shared_k = {with_prompt ? shared_k.data() : nullptr, shared, d, d},
        .shared_v = {with_prompt ? shared_v.data() : nullptr, shared, d, d}};
    const auto before = backend_->traffic();
    backend_->attention_many({&problem, 1}, heads, scale);
    std::int64_t sent = 0;
    if (counts) {
      auto after = *backend_->traffic();
      after -= *before;
      sent = after.host_to_device_bytes;
    }
    const auto stack = [&](const std::vector<float>& head, const std::vector<float>& own) {
      std::vector<float> all(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(shared) * d);
      all.insert(all.end(), own.begin(), own.begin() + static_cast<std::ptrdiff_t>(rows) * d);
      return all;
    };
    const auto all_k = stack(shared_k, k), all_v = stack(shared_v, v);
    reference_->attention({q.data(), 1, d, d}, {all_k.data(), shared + rows, d, d},
                          {all_v.data(), shared + rows, d, d}, heads, scale, shared + rows - 1,
                          {want.data(), 1, d, d});
    expect_close(got, want, std::vector<double>(d, 1.0), GetParam().product_tolerance, 1e-6, when);
    return sent;
  };
  const std::int64_t query = static_cast<std::int64_t>(d) * 4;
  const std::int64_t row = static_cast<std::int64_t>(d) * 4 * 2;  // a key row and a value row
  for (auto* buffer : {&k0, &v0, &k1, &v1}) backend_->make_resident_rows(buffer->data(), floats);
  const auto first = step(k0, v0, 3, false, "three rows");
  if (counts) {
    EXPECT_EQ(first, query + 3 * row) << "every row crosses the first time";
  }
  for (int rows = 4; rows <= 6; ++rows) {
    const auto sent = step(k0, v0, rows, false, "one row more");
    if (counts) {
      EXPECT_EQ(sent, query + row) << "only the new row crosses, at " << rows << " rows";
    }
  }
  // Beam search duplicates beam 0 into beam 1's storage: the copy stays on the device.
  std::copy(k0.begin(), k0.begin() + 6 * d, k1.begin());
  std::copy(v0.begin(), v0.begin() + 6 * d, v1.begin());
  backend_->copy_resident_rows(k0.data(), k1.data(), static_cast<std::size_t>(6) * d);
  backend_->copy_resident_rows(v0.data(), v1.data(), static_cast<std::size_t>(6) * d);
  std::fill(k1.begin() + 6 * d, k1.begin() + 7 * d, 0.5F);
  const auto copied = step(k1, v1, 7, false, "a copied beam, one row more");
  if (counts) {
    EXPECT_EQ(copied, query + row) << "the copied rows do not cross again";
  }
  // With a resident prompt in front: the prompt crosses once, the own rows as before.
  backend_->make_resident(shared_k.data(), shared_k.size() * sizeof(float));
  backend_->make_resident(shared_v.data(), shared_v.size() * sizeof(float));
  (void)step(k1, v1, 8, true, "behind a prompt");
  const auto behind = step(k1, v1, 9, true, "behind a prompt, one row more");
  if (counts) {
    EXPECT_EQ(behind, query + row) << "neither the prompt nor the old rows cross";
  }
  backend_->release_resident(shared_k.data());
  backend_->release_resident(shared_v.data());
  // Released, rewritten at the same address and made resident again: read anew.
  backend_->release_resident(k0.data());
  backend_->release_resident(v0.data());
  for (auto& value : k0) value = -value;
  backend_->make_resident_rows(k0.data(), floats);
  backend_->make_resident_rows(v0.data(), floats);
  const auto again = step(k0, v0, 6, false, "released and rewritten");
  if (counts) {
    EXPECT_EQ(again, query + 6 * row) << "a released mirror is not read again";
  }
  for (auto* buffer : {&k0, &v0, &k1, &v1}) backend_->release_resident(buffer->data());
}

}  // namespace
}  // namespace amanuensis::backends::ops_test
