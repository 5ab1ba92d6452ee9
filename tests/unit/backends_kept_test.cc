// A decoder step's activations kept on a device (kernels::Backend::keep_on_device): the ops give
// the results they give on host memory, nothing of the step crosses the bus but its input and
// what the host takes back, and rows put into resident rows stay on the device. Same fixture and
// cases as backends_ops_test.cc, which instantiates them.
#include <algorithm>
#include <span>

#include "unit/backends_ops_test.h"

namespace amanuensis::backends::ops_test {
namespace {

// One small decoder layer's worth of ops over the buffers of a step, as the model runs them: the
// input rows in, a norm, a projection to queries, keys and values, the keys and values appended
// to a beam's resident rows, attention over them (queries read in place, rows 3d apart), the
// output projection and a feed-forward block with residual adds, and the result rows out.
struct Step {
  static constexpr int kHeads = 4;
  static constexpr int kRows = 3;
  static constexpr int kWidth = kHeads * 64;
  static constexpr int kHidden = 2 * kWidth;
  static constexpr int kCacheRows = 8;

  std::vector<float> input = random_values(kRows * kWidth, 1.0F, 91);
  std::vector<float> w_qkv = random_values(3 * kWidth * kWidth, 0.05F, 92);
  std::vector<float> w_out = random_values(kWidth * kWidth, 0.05F, 93);
  std::vector<float> w_up = random_values(kHidden * kWidth, 0.05F, 94);
  std::vector<float> w_down = random_values(kWidth * kHidden, 0.05F, 95);
  std::vector<float> bias = random_values(kHidden, 0.1F, 96);
  std::vector<float> gamma = random_values(kWidth, 0.2F, 97);
  std::vector<float> beta = random_values(kWidth, 0.2F, 98);
  // The step's activations.
  std::vector<float> x = std::vector<float>(kRows * kWidth);
  std::vector<float> normed = std::vector<float>(kRows * kWidth);
  std::vector<float> qkv = std::vector<float>(kRows * 3 * kWidth);
  std::vector<float> context = std::vector<float>(kRows * kWidth);
  std::vector<float> hidden = std::vector<float>(kRows * kHidden);
  std::vector<float> projected = std::vector<float>(kRows * kWidth);

  Step() {
    for (float& g : gamma) g += 1.0F;
  }

  [[nodiscard]] std::vector<std::span<float>> activations() {
    return {x, normed, qkv, context, hidden, projected};
  }

  void prepare(kernels::Backend& b) {
    for (const auto* w : {&w_qkv, &w_out, &w_up, &w_down, &bias, &gamma, &beta})
      b.make_resident(w->data(), w->size() * sizeof(float));
  }

  // The result rows, by way of `keys` and `values` (resident rows of kCacheRows rows).
  std::vector<float> run(kernels::Backend& b, std::vector<float>& keys,
                         std::vector<float>& values) {
    const int d = kWidth;
    b.copy_rows({input.data(), kRows, d, d}, {x.data(), kRows, d, d});
    b.copy_rows({x.data(), kRows, d, d}, {normed.data(), kRows, d, d});
    b.layer_norm({normed.data(), kRows, d, d}, gamma, beta, 1e-5F);
    b.linear({normed.data(), kRows, d, d}, {w_qkv.data(), 3 * d, d, d}, {},
             {qkv.data(), kRows, 3 * d, 3 * d});
    b.copy_rows({qkv.data() + d, kRows, d, 3 * d}, {keys.data(), kRows, d, d});
    b.copy_rows({qkv.data() + 2 * d, kRows, d, 3 * d}, {values.data(), kRows, d, d});
    const AttentionProblem problem{.q = {qkv.data(), kRows, d, 3 * d},
                                   .k = {keys.data(), kRows, d, d},
                                   .v = {values.data(), kRows, d, d},
                                   .causal_offset = 0,
                                   .out = {context.data(), kRows, d, d}};
    b.attention_many({&problem, 1}, kHeads, 0.125F);
    b.linear({context.data(), kRows, d, d}, {w_out.data(), d, d, d}, {},
             {projected.data(), kRows, d, d});
    b.add(projected, x);
    b.copy_rows({x.data(), kRows, d, d}, {normed.data(), kRows, d, d});
    b.layer_norm({normed.data(), kRows, d, d}, gamma, beta, 1e-5F);
    b.linear({normed.data(), kRows, d, d}, {w_up.data(), kHidden, d, d}, bias,
             {hidden.data(), kRows, kHidden, kHidden});
    b.gelu(hidden);
    b.linear({hidden.data(), kRows, kHidden, kHidden}, {w_down.data(), d, kHidden, kHidden}, {},
             {projected.data(), kRows, d, d});
    b.add(projected, x);
    std::vector<float> out(static_cast<std::size_t>(kRows) * d);
    b.copy_rows({x.data(), kRows, d, d}, {out.data(), kRows, d, d});
    return out;
  }
};

TEST_P(OpsTest, KeptActivationsGiveTheHostsResultsAndStayOnTheDevice) {
  Step step;
  step.prepare(*backend_);
  const auto cache = static_cast<std::size_t>(Step::kCacheRows) * Step::kWidth;
  std::vector<float> keys(cache), values(cache), kept_keys(cache), kept_values(cache);
  for (auto* rows : {&keys, &values, &kept_keys, &kept_values})
    backend_->make_resident_rows(rows->data(), cache);
  const auto on_host = step.run(*backend_, keys, values);

  constexpr float kUntouched = -7.0F;
  std::fill(step.projected.begin(), step.projected.end(), kUntouched);
  const auto before = backend_->traffic();
  auto activations = step.activations();
  backend_->keep_on_device(activations);
  const auto kept = step.run(*backend_, kept_keys, kept_values);
  auto during = backend_->traffic();
  backend_->end_keep_on_device(activations);
  expect_close(kept, on_host, std::vector<double>(on_host.size(), 1.0), 1e-6, 1e-6,
               "kept on the device");

  if (!before) {  // host memory is the only copy: the ops wrote it
    EXPECT_NE(step.projected.front(), kUntouched);
    return;
  }
  *during -= *before;
  const std::int64_t rows_bytes = static_cast<std::int64_t>(on_host.size()) * 4;
  EXPECT_EQ(during->host_to_device_bytes, rows_bytes) << "only the input rows go up";
  EXPECT_EQ(during->device_to_host_bytes, rows_bytes) << "only the result rows come back";
  EXPECT_EQ(during->syncs, 1) << "one wait: for the result rows";
  EXPECT_EQ(step.projected.front(), kUntouched) << "a kept buffer's host memory is not written";
  // The appended cache rows are only on the device, and read from there after the step.
  const int d = Step::kWidth;
  std::vector<float> q(d, 0.5F), got(d), want(d);
  const auto attend = [&](std::vector<float>& k, std::vector<float>& v, std::vector<float>& out) {
    const AttentionProblem problem{.q = {q.data(), 1, d, d},
                                   .k = {k.data(), Step::kRows, d, d},
                                   .v = {v.data(), Step::kRows, d, d},
                                   .causal_offset = Step::kRows - 1,
                                   .out = {out.data(), 1, d, d}};
    backend_->attention_many({&problem, 1}, Step::kHeads, 0.125F);
  };
  attend(keys, values, want);
  attend(kept_keys, kept_values, got);
  expect_close(got, want, std::vector<double>(got.size(), 1.0), 1e-6, 1e-6, "cache rows");
  for (auto* rows : {&keys, &values, &kept_keys, &kept_values})
    backend_->release_resident(rows->data());
}

}  // namespace
}  // namespace amanuensis::backends::ops_test
