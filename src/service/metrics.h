// A small metrics registry that renders the Prometheus text exposition format (version 0.0.4).
//
// Counters and histograms are updated by request threads; "sampled" metrics (queue depth,
// resident memory, ...) are read through a callback when /metrics is scraped, so nothing has to
// keep them current. Families are created once at start-up and live as long as the registry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace amanuensis::service {

// Values of a family's labels, in the order its label names were given.
using LabelValues = std::vector<std::string>;

class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, std::string type,
               std::vector<std::string> label_names);
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;
  virtual ~MetricFamily() = default;

  // Appends "# HELP", "# TYPE" and the samples.
  void render(std::string& out) const;

 protected:
  virtual void render_samples(std::string& out) const = 0;
  // `name{label="value",...}` with extra labels appended (a histogram's `le`).
  [[nodiscard]] std::string series(const std::string& name, const LabelValues& values,
                                   const std::string& extra = {}) const;
  void check_labels(const LabelValues& values) const;

  std::string name_;
  std::string help_;
  std::string type_;
  std::vector<std::string> label_names_;
  mutable std::mutex mutex_;
};

class Counter final : public MetricFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  void add(const LabelValues& labels = {}, double amount = 1.0);
  [[nodiscard]] double value(const LabelValues& labels = {}) const;

 private:
  void render_samples(std::string& out) const override;
  std::map<LabelValues, double> values_;
};

class Histogram final : public MetricFamily {
 public:
  // `upper_bounds` ascending; the +Inf bucket is implicit.
  Histogram(std::string name, std::string help, std::vector<double> upper_bounds,
            std::vector<std::string> label_names);
  void observe(const LabelValues& labels, double value);
  void observe(double value) { observe({}, value); }

 private:
  struct Series {
    std::vector<std::uint64_t> buckets;  // not cumulative; summed when rendered
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  void render_samples(std::string& out) const override;
  std::vector<double> upper_bounds_;
  std::map<LabelValues, Series> series_;
};

// A value read at scrape time: a gauge, or a counter kept elsewhere (CPU seconds).
class Sampled final : public MetricFamily {
 public:
  Sampled(std::string name, std::string help, std::string type, std::function<double()> read);

 private:
  void render_samples(std::string& out) const override;
  std::function<double()> read_;
};

// Values read at scrape time, one per label set (a gauge per model, say).
class SampledSeries final : public MetricFamily {
 public:
  using Read = std::function<std::vector<std::pair<LabelValues, double>>()>;
  SampledSeries(std::string name, std::string help, std::vector<std::string> label_names,
                Read read);

 private:
  void render_samples(std::string& out) const override;
  Read read_;
};

class MetricsRegistry {
 public:
  Counter& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Histogram& histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                       std::vector<std::string> label_names = {});
  void gauge(std::string name, std::string help, std::function<double()> read);
  // A gauge with labels, its series and values read at scrape time.
  void gauge(std::string name, std::string help, std::vector<std::string> label_names,
             SampledSeries::Read read);
  // A counter whose total is kept elsewhere, e.g. the kernel's CPU time.
  void sampled_counter(std::string name, std::string help, std::function<double()> read);

  // The whole exposition, families in registration order.
  [[nodiscard]] std::string render() const;

 private:
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

// Prometheus number syntax: shortest round-trip decimal, +Inf / -Inf / NaN spelled its way.
std::string prometheus_number(double value);

}  // namespace amanuensis::service
