// Detection, selection, self-test and failover (src/backends/): what `auto` and a named device
// choose, what they report, and how a device that fails at initialisation or mid-request falls
// back to the CPU. Device-independent: a "device" here is the CPU backend wrapped to misbehave.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/failover.h"
#include "backends/fault_injection.h"
#include "backends/registry.h"
#include "backends/resident_copies.h"
#include "backends/self_test.h"

namespace amanuensis::backends {
namespace {

using kernels::MatrixView;
using kernels::MutableMatrixView;

// Sets an environment variable for one scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The CPU backend under another name, failing from its `fail_from`-th call on (0: never) and
// optionally off by `error` in every matmul.
class FakeDevice final : public kernels::Backend {
 public:
  explicit FakeDevice(int fail_from = 0, float error = 0.0F)
      : cpu_(kernels::make_cpu_backend(1)), fail_from_(fail_from), error_(error) {}

  [[nodiscard]] std::string_view name() const override { return "fake"; }
  [[nodiscard]] std::string describe() const override { return "fake device"; }
  int calls = 0;

  void matmul(MatrixView a, MatrixView b, bool t, float alpha, float beta,
              MutableMatrixView c) override {
    tick();
    cpu_->matmul(a, b, t, alpha, beta, c);
    for (int r = 0; r < c.rows; ++r) c.data[static_cast<std::size_t>(r) * c.ld] += error_;
  }
  void linear(MatrixView x, MatrixView w, std::span<const float> bias,
              MutableMatrixView y) override {
    tick();
    cpu_->linear(x, w, bias, y);
  }
  void linear_int8(MatrixView x, const kernels::Int8Matrix& w, std::span<const float> bias,
                   MutableMatrixView y) override {
    tick();
    cpu_->linear_int8(x, w, bias, y);
  }
  void attention(MatrixView q, MatrixView k, MatrixView v, int heads, float scale, int causal,
                 MutableMatrixView out) override {
    tick();
    cpu_->attention(q, k, v, heads, scale, causal, out);
  }
  void layer_norm(MutableMatrixView x, std::span<const float> g, std::span<const float> b,
                  float e) override {
    tick();
    cpu_->layer_norm(x, g, b, e);
  }
  void gelu(std::span<float> x) override {
    tick();
    cpu_->gelu(x);
  }
  void softmax_rows(MutableMatrixView x, int causal) override {
    tick();
    cpu_->softmax_rows(x, causal);
  }
  void add(std::span<const float> x, std::span<float> y) override {
    tick();
    cpu_->add(x, y);
  }
  void make_resident_weight(MatrixView /*weight*/) override { tick(); }

 private:
  void tick() {
    if (++calls >= fail_from_ && fail_from_ > 0) throw DeviceError("fake device lost");
  }
  std::unique_ptr<kernels::Backend> cpu_;
  int fail_from_;
  float error_;
};

std::vector<std::string> names(const std::vector<BackendReport>& reports) {
  std::vector<std::string> out;
  for (const auto& r : reports) out.push_back(r.name);
  return out;
}

const BackendReport& report_of(const std::vector<BackendReport>& reports, const std::string& name) {
  for (const auto& r : reports) {
    if (r.name == name) return r;
  }
  throw std::runtime_error("no report for " + name);
}

std::string detail(const BackendReport& report, const std::string& key) {
  for (const auto& [k, v] : report.details) {
    if (k == key) return v;
  }
  return {};
}

int selected_count(const std::vector<BackendReport>& reports) {
  int n = 0;
  for (const auto& r : reports) n += r.selected ? 1 : 0;
  return n;
}

TEST(FaultInjection, ParsesEachForm) {
  EXPECT_TRUE(parse_forced_failures("opencl:init", "opencl").init);
  EXPECT_FALSE(parse_forced_failures("opencl:init", "cuda").init);
  EXPECT_FALSE(parse_forced_failures("opencl:init", "opencl").run_from_call.has_value());
  const auto both = parse_forced_failures("cuda:run,opencl:run:40", "opencl");
  EXPECT_EQ(both.run_from_call, 40);
  EXPECT_EQ(parse_forced_failures("cuda:run,opencl:run:40", "cuda").run_from_call, 1);
  EXPECT_FALSE(parse_forced_failures("", "cuda").init);
  for (const char* bad :
       {"opencl", "opencl:boom", "opencl:run:0", "opencl:run:x", "opencl:init:2", "a:b:c:d"}) {
    EXPECT_THROW(parse_forced_failures(bad, "opencl"), Error) << bad;
  }
  EXPECT_NE(forced_failure_message("opencl", "init").find("AMANUENSIS_FAIL_BACKEND=opencl:init"),
            std::string::npos);
}

TEST(Registry, ListsEveryBackendInAutoOrder) {
  std::vector<std::string> order;
  for (const auto& provider : providers()) order.emplace_back(provider->name());
  EXPECT_EQ(order, (std::vector<std::string>{"npu", "cuda", "opencl", "cpu"}));
}

TEST(Registry, ResolvesDevicesAndRejectsUnknownOnes) {
  const ScopedEnv no_device(kDeviceVariable, nullptr);
  EXPECT_EQ(resolve_device(""), "auto");
  EXPECT_EQ(resolve_device("auto"), "auto");
  EXPECT_EQ(resolve_device("opencl"), "opencl");
  try {
    (void)resolve_device("gpu");
    FAIL() << "no error for an unknown device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected one of: auto, npu, cuda, opencl, cpu"),
              std::string::npos)
        << e.what();
  }
  const ScopedEnv cpu(kDeviceVariable, "cpu");
  EXPECT_EQ(resolve_device("auto"), "cpu");
  EXPECT_EQ(resolve_device("opencl"), "opencl");  // an explicit choice wins over the variable
}

TEST(Selection, CpuRequestedIsTheCpuWithEveryBackendReported) {
  const auto selection = select("cpu", {.threads = 1});
  EXPECT_EQ(selection.backend->name(), "cpu");
  const auto reports = selection.monitor->reports();
  EXPECT_EQ(names(reports), (std::vector<std::string>{"npu", "cuda", "opencl", "cpu"}));
  EXPECT_EQ(selected_count(reports), 1);
  EXPECT_TRUE(report_of(reports, "cpu").selected);
  EXPECT_NE(report_of(reports, "opencl").reason.find("not requested"), std::string::npos);
}

TEST(Selection, AutoPicksExactlyOneAndSaysWhy) {
  const ScopedEnv no_device(kDeviceVariable, nullptr);
  const auto selection = select("auto", {.threads = 1});
  const auto reports = selection.monitor->reports();
  ASSERT_EQ(reports.size(), 4U);
  EXPECT_EQ(selected_count(reports), 1);
  for (const auto& report : reports) {
    EXPECT_FALSE(report.reason.empty()) << report.name;
    if (report.selected) {
      EXPECT_EQ(report.name, selection.monitor->selected());
      EXPECT_TRUE(report.available);
    }
  }
}

TEST(Selection, ForcedInitFailureFallsBackToTheCpuWithTheReason) {
  const ScopedEnv fail(kFailBackendVariable, "opencl:init");
  const auto selection = select("opencl", {.threads = 1});
  EXPECT_EQ(selection.backend->name(), "cpu");
  const auto reports = selection.monitor->reports();
  const auto& opencl = report_of(reports, "opencl");
  EXPECT_FALSE(opencl.available);
  EXPECT_FALSE(opencl.selected);
  EXPECT_NE(opencl.reason.find("forced failure at init (AMANUENSIS_FAIL_BACKEND=opencl:init)"),
            std::string::npos);
  EXPECT_TRUE(report_of(reports, "cpu").selected);
  EXPECT_NE(report_of(reports, "cpu").reason.find("fallback"), std::string::npos);

  const auto listed = check_all("opencl", {.threads = 1});
  EXPECT_FALSE(report_of(listed, "opencl").available);
  EXPECT_NE(report_of(listed, "opencl").reason.find("forced failure"), std::string::npos);
  EXPECT_TRUE(report_of(listed, "cpu").selected);
}

TEST(Selection, NamedOpenClIsUsedWhereItWorks) {
  const auto& provider = *providers()[2];
  ASSERT_EQ(provider.name(), "opencl");
  const auto probe = provider.probe();
  if (!probe.available) GTEST_SKIP() << "opencl unavailable here: " << probe.reason;
  const auto selection = select("opencl", {.threads = 1});
  EXPECT_EQ(selection.backend->name(), "opencl");
  const auto reports = selection.monitor->reports();
  const auto& report = report_of(reports, "opencl");
  EXPECT_TRUE(report.selected);
  EXPECT_NE(detail(report, "self_test").find("tolerance"), std::string::npos);
  EXPECT_FALSE(detail(report, "name").empty());
}

TEST(Selection, UnknownDeviceIsAnError) { EXPECT_THROW(select("tpu", {.threads = 1}), Error); }

TEST(SelfTest, PassesTheCpuAndCatchesWrongOrFailingDevices) {
  auto reference = kernels::make_cpu_backend(1);
  auto cpu = kernels::make_cpu_backend(2);
  const auto fine = self_test(*cpu, *reference, 1e-4);
  EXPECT_TRUE(fine.passed) << fine.failure;
  EXPECT_LT(fine.max_error, 1e-5);

  FakeDevice wrong(0, 0.01F);
  const auto bad = self_test(wrong, *reference, 1e-4);
  EXPECT_FALSE(bad.passed);
  EXPECT_NE(bad.failure.find("matmul"), std::string::npos) << bad.failure;
  EXPECT_NE(bad.failure.find("exceeds"), std::string::npos) << bad.failure;

  FakeDevice failing(1);
  const auto thrown = self_test(failing, *reference, 1e-4);
  EXPECT_FALSE(thrown.passed);
  EXPECT_NE(thrown.failure.find("fake device lost"), std::string::npos) << thrown.failure;
}

// A stand-in for one transcription: `ops` backend calls, a segment after every fifth.
Transcription fake_request(kernels::Backend& backend, const SegmentCallback& on_segment, int ops) {
  Transcription result;
  std::vector<float> x(8, 1.0F);
  std::vector<float> y(8, 0.0F);
  for (int i = 1; i <= ops; ++i) {
    backend.add(x, y);
    if (i % 5 == 0) {
      Segment segment;
      segment.id = static_cast<int>(result.segments.size()) + 1;
      segment.text = "segment " + std::to_string(segment.id);
      if (on_segment) on_segment(segment);
      result.segments.push_back(segment);
    }
  }
  return result;
}

std::vector<BackendReport> fake_selection() {
  return {
      {.name = "fake", .available = true, .selected = true, .reason = "selected", .details = {}},
      {.name = "cpu", .available = true, .selected = false, .reason = "fallback", .details = {}}};
}

TEST(Failover, MidRequestFailureRerunsTheRequestOnTheCpuWithoutRepeatingSegments) {
  auto monitor = std::make_shared<BackendMonitor>(fake_selection(), "fake");
  auto device = std::make_unique<FakeDevice>(12);  // fails during the 12th op: after two segments
  FakeDevice* fake = device.get();
  FailoverBackend backend(std::move(device), kernels::make_cpu_backend(1), monitor, {});
  std::vector<std::string> seen;
  const auto result = run_with_failover(
      monitor.get(), [&](const Segment& s) { seen.push_back(s.text); },
      [&](const SegmentCallback& callback) { return fake_request(backend, callback, 20); });
  EXPECT_EQ(result.segments.size(), 4U);
  EXPECT_EQ(seen, (std::vector<std::string>{"segment 1", "segment 2", "segment 3", "segment 4"}));
  EXPECT_EQ(fake->calls, 12);  // the retry never touched the device
  const auto reports = monitor->reports();
  const auto& report = report_of(reports, "fake");
  EXPECT_TRUE(report.selected);
  EXPECT_EQ(detail(report, "run_failures"), "1");
  EXPECT_EQ(detail(report, "requests_retried_on_cpu"), "1");
  EXPECT_EQ(detail(report, "last_failure"), "fake device lost");

  // The next request tries the device again (it fails again: the fake stays broken).
  (void)run_with_failover(monitor.get(), {},
                          [&](const SegmentCallback& cb) { return fake_request(backend, cb, 3); });
  EXPECT_EQ(detail(report_of(monitor->reports(), "fake"), "requests_retried_on_cpu"), "2");
}

TEST(Failover, DeviceIsDisabledAfterRepeatedFailedRequests) {
  auto monitor = std::make_shared<BackendMonitor>(fake_selection(), "fake");
  auto device = std::make_unique<FakeDevice>(1);
  FakeDevice* fake = device.get();
  FailoverBackend backend(std::move(device), kernels::make_cpu_backend(1), monitor, {});
  for (int i = 0; i < kDisableAfterFailures; ++i) {
    const auto result = run_with_failover(monitor.get(), {}, [&](const SegmentCallback& cb) {
      return fake_request(backend, cb, 10);
    });
    EXPECT_EQ(result.segments.size(), 2U);
  }
  EXPECT_TRUE(monitor->disabled());
  const int calls = fake->calls;
  (void)run_with_failover(monitor.get(), {},
                          [&](const SegmentCallback& cb) { return fake_request(backend, cb, 10); });
  EXPECT_EQ(fake->calls, calls);  // disabled: straight to the CPU
  const auto reports = monitor->reports();
  EXPECT_FALSE(report_of(reports, "fake").selected);
  EXPECT_NE(report_of(reports, "fake").reason.find("disabled"), std::string::npos);
  EXPECT_TRUE(report_of(reports, "cpu").selected);
}

TEST(Failover, ForcedRunFailureStartsAtTheGivenCall) {
  auto monitor = std::make_shared<BackendMonitor>(fake_selection(), "fake");
  FailoverBackend backend(std::make_unique<FakeDevice>(), kernels::make_cpu_backend(1), monitor,
                          ForcedFailures{.init = false, .run_from_call = 3});
  std::vector<float> x(4, 1.0F);
  std::vector<float> y(4, 0.0F);
  backend.add(x, y);
  backend.add(x, y);
  try {
    backend.add(x, y);
    FAIL() << "the third call did not fail";
  } catch (const BackendFailed& e) {
    EXPECT_EQ(e.backend(), "fake");
    EXPECT_NE(e.reason().find("AMANUENSIS_FAIL_BACKEND=fake:run"), std::string::npos) << e.reason();
  }
  EXPECT_EQ(y[0], 2.0F);
}

TEST(Failover, WeightsTheDeviceCannotTakeAtLoadAreAFailureNotAnError) {
  auto monitor = std::make_shared<BackendMonitor>(fake_selection(), "fake");
  FailoverBackend backend(std::make_unique<FakeDevice>(1), kernels::make_cpu_backend(1), monitor,
                          {});
  const std::vector<float> w(16, 1.0F);
  EXPECT_NO_THROW(backend.make_resident_weight({w.data(), 4, 4, 4}));
  const auto reports = monitor->reports();
  const auto& report = report_of(reports, "fake");
  EXPECT_EQ(detail(report, "run_failures"), "1");
  EXPECT_EQ(detail(report, "last_failure"), "fake device lost");
  EXPECT_TRUE(report.selected);  // a request decides whether the device still works
}

// A step whose activations the device keeps cannot go on on the CPU, which has not got them: if
// the device is taken out of use meanwhile (another request's failures), the step's next op fails
// the request, which run_with_failover then reruns on the CPU. Once the step ends, ops go to the
// CPU as before.
TEST(Failover, ADeviceTakenOutOfUseMidStepFailsTheStepNotItsResults) {
  auto monitor = std::make_shared<BackendMonitor>(fake_selection(), "fake");
  FailoverBackend backend(std::make_unique<FakeDevice>(), kernels::make_cpu_backend(1), monitor,
                          {});
  std::vector<float> x(4, 1.0F);
  std::vector<float> y(4, 0.0F);
  const std::vector<std::span<float>> kept{y};
  backend.keep_on_device(kept);
  backend.add(x, y);
  for (int i = 0; i < kDisableAfterFailures; ++i) monitor->record_retry();  // others' requests
  ASSERT_TRUE(monitor->disabled());
  try {
    backend.add(x, y);
    FAIL() << "the step went on on the CPU without its activations";
  } catch (const BackendFailed& e) {
    EXPECT_NE(e.reason().find("taken out of use"), std::string::npos) << e.reason();
  }
  backend.end_keep_on_device(kept);
  backend.add(x, y);  // on the CPU, with host memory
  EXPECT_EQ(y[0], 2.0F);
  // While the device is out of use, no step keeps anything on it.
  backend.keep_on_device(kept);
  EXPECT_NO_THROW(backend.add(x, y));
  backend.end_keep_on_device(kept);
  EXPECT_EQ(y[0], 3.0F);
}

TEST(Failover, CpuSelectionRunsRequestsDirectly) {
  auto monitor = std::make_shared<BackendMonitor>(std::vector<BackendReport>{}, "cpu");
  int runs = 0;
  (void)run_with_failover(monitor.get(), {}, [&](const SegmentCallback&) {
    ++runs;
    return Transcription{};
  });
  EXPECT_EQ(runs, 1);
}

TEST(ResidentCopies, KeepsCopiesOfResidentDataOnlyUntilReleased) {
  ResidentRanges ranges;
  ResidentCopies<int> copies(ranges);
  std::vector<float> w(100, 1.0F);
  int uploads = 0;
  const auto upload = [&] { return ++uploads; };
  const auto bytes = w.size() * sizeof(float);
  // Not resident: every call sends it, nothing is kept, whatever the memory holds next.
  EXPECT_EQ(*copies.get(w.data(), bytes, 10, 10, 10, upload), 1);
  EXPECT_EQ(*copies.get(w.data(), bytes, 10, 10, 10, upload), 2);
  EXPECT_EQ(copies.size(), 0U);
  // Resident: one copy per shape, found again by address, also for a part of the range.
  ranges.add(w.data(), bytes);
  EXPECT_EQ(*copies.get(w.data(), bytes, 10, 10, 10, upload), 3);
  EXPECT_EQ(*copies.get(w.data(), bytes, 10, 10, 10, upload), 3);
  EXPECT_EQ(*copies.get(w.data(), bytes, 5, 20, 20, upload), 4);
  EXPECT_EQ(*copies.get(w.data() + 50, bytes / 2, 5, 10, 10, upload), 5);
  EXPECT_EQ(*copies.get(w.data() + 50, bytes / 2, 5, 10, 10, upload), 5);
  EXPECT_EQ(copies.size(), 3U);
  EXPECT_EQ(copies.used_bytes(), 2 * bytes + bytes / 2);
  // Reaching past the range is not resident.
  EXPECT_FALSE(ranges.contains(w.data() + 50, bytes));
  EXPECT_EQ(*copies.get(w.data() + 50, bytes, 10, 10, 10, upload), 6);
  // Released, the owner may write new values: the next use sends them.
  const auto range = ranges.remove(w.data());
  ASSERT_TRUE(range.has_value());
  copies.drop(range->first, range->second);
  EXPECT_EQ(copies.size(), 0U);
  EXPECT_EQ(copies.used_bytes(), 0U);
  EXPECT_FALSE(ranges.remove(w.data()).has_value());  // twice is harmless
  w[3] = 2.0F;
  ranges.add(w.data(), bytes);
  EXPECT_EQ(*copies.get(w.data(), bytes, 10, 10, 10, upload), 7);
}

TEST(ResidentCopies, NeighbouringRangesStayApart) {
  ResidentRanges ranges;
  std::vector<float> memory(300, 0.0F);
  ranges.add(memory.data(), 100 * sizeof(float));
  ranges.add(memory.data() + 100, 100 * sizeof(float));
  EXPECT_TRUE(ranges.contains(memory.data() + 100, 100 * sizeof(float)));
  EXPECT_FALSE(ranges.contains(memory.data() + 50, 100 * sizeof(float)));  // spans two ranges
  EXPECT_FALSE(ranges.contains(memory.data() + 200, sizeof(float)));
  EXPECT_FALSE(ranges.contains(memory.data() - 1, sizeof(float)));
  ResidentCopies<int> copies(ranges);
  int uploads = 0;
  const auto upload = [&] { return ++uploads; };
  (void)copies.get(memory.data(), 400, 1, 100, 100, upload);
  (void)copies.get(memory.data() + 100, 400, 1, 100, 100, upload);
  const auto first = ranges.remove(memory.data());
  copies.drop(first->first, first->second);
  EXPECT_EQ(copies.size(), 1U);  // the second range's copy stays
  EXPECT_EQ(*copies.get(memory.data() + 100, 400, 1, 100, 100, upload), 2);
  EXPECT_EQ(ranges.size(), 1U);
}

}  // namespace
}  // namespace amanuensis::backends
