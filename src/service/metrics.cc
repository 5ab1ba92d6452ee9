#include "service/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace amanuensis::service {

namespace {

// Label values are client-influenced (an endpoint path); the format needs \\, \" and \n escaped.
std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text escapes only backslash and newline.
std::string escape_help(const std::string& help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string prometheus_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";
  return {buffer, end};
}

MetricFamily::MetricFamily(std::string name, std::string help, std::string type,
                           std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(label_names)) {}

void MetricFamily::render(std::string& out) const {
  out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
  out += "# TYPE " + name_ + " " + type_ + "\n";
  const std::lock_guard lock(mutex_);
  render_samples(out);
}

std::string MetricFamily::series(const std::string& name, const LabelValues& values,
                                 const std::string& extra) const {
  if (label_names_.empty() && extra.empty()) return name;
  std::string out = name + "{";
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ",";
    out += label_names_[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra.empty()) out += (label_names_.empty() ? "" : ",") + extra;
  return out + "}";
}

void MetricFamily::check_labels(const LabelValues& values) const {
  // A programming error, not a client's: caught by the tests, never by a request.
  if (values.size() != label_names_.size()) {
    throw std::logic_error("metric " + name_ + " takes " + std::to_string(label_names_.size()) +
                           " label values, got " + std::to_string(values.size()));
  }
}

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), "counter", std::move(label_names)) {}

void Counter::add(const LabelValues& labels, double amount) {
  check_labels(labels);
  const std::lock_guard lock(mutex_);
  values_[labels] += amount;
}

double Counter::value(const LabelValues& labels) const {
  const std::lock_guard lock(mutex_);
  const auto found = values_.find(labels);
  return found == values_.end() ? 0.0 : found->second;
}

void Counter::render_samples(std::string& out) const {
  // A family without labels always shows its one series, even before the first event.
  if (values_.empty() && label_names_.empty()) out += name_ + " 0\n";
  for (const auto& [labels, value] : values_) {
    out += series(name_, labels) + " " + prometheus_number(value) + "\n";
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                     std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), "histogram", std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {
  std::sort(upper_bounds_.begin(), upper_bounds_.end());
}

void Histogram::observe(const LabelValues& labels, double value) {
  check_labels(labels);
  const std::lock_guard lock(mutex_);
  auto& s = series_[labels];
  if (s.buckets.empty()) s.buckets.assign(upper_bounds_.size() + 1, 0);
  const auto bucket =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  ++s.buckets[static_cast<std::size_t>(bucket)];
  s.sum += value;
  ++s.count;
}

void Histogram::render_samples(std::string& out) const {
  auto render_one = [&](const LabelValues& labels, const Series& s) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
      cumulative += s.buckets.empty() ? 0 : s.buckets[i];
      const std::string le =
          i < upper_bounds_.size() ? prometheus_number(upper_bounds_[i]) : std::string("+Inf");
      out += series(name_ + "_bucket", labels, "le=\"" + le + "\"") + " " +
             std::to_string(cumulative) + "\n";
    }
    out += series(name_ + "_sum", labels) + " " + prometheus_number(s.sum) + "\n";
    out += series(name_ + "_count", labels) + " " + std::to_string(s.count) + "\n";
  };
  if (series_.empty() && label_names_.empty()) render_one({}, Series{});
  for (const auto& [labels, s] : series_) render_one(labels, s);
}

Sampled::Sampled(std::string name, std::string help, std::string type, std::function<double()> read)
    : MetricFamily(std::move(name), std::move(help), std::move(type), {}), read_(std::move(read)) {}

void Sampled::render_samples(std::string& out) const {
  out += name_ + " " + prometheus_number(read_()) + "\n";
}

SampledSeries::SampledSeries(std::string name, std::string help,
                             std::vector<std::string> label_names, Read read)
    : MetricFamily(std::move(name), std::move(help), "gauge", std::move(label_names)),
      read_(std::move(read)) {}

void SampledSeries::render_samples(std::string& out) const {
  for (const auto& [labels, value] : read_()) {
    check_labels(labels);
    out += series(name_, labels) + " " + prometheus_number(value) + "\n";
  }
}

Counter& MetricsRegistry::counter(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  auto family = std::make_unique<Counter>(std::move(name), std::move(help), std::move(label_names));
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<double> upper_bounds,
                                      std::vector<std::string> label_names) {
  auto family = std::make_unique<Histogram>(std::move(name), std::move(help),
                                            std::move(upper_bounds), std::move(label_names));
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

void MetricsRegistry::gauge(std::string name, std::string help, std::function<double()> read) {
  families_.push_back(
      std::make_unique<Sampled>(std::move(name), std::move(help), "gauge", std::move(read)));
}

void MetricsRegistry::gauge(std::string name, std::string help,
                            std::vector<std::string> label_names, SampledSeries::Read read) {
  families_.push_back(std::make_unique<SampledSeries>(std::move(name), std::move(help),
                                                      std::move(label_names), std::move(read)));
}

void MetricsRegistry::sampled_counter(std::string name, std::string help,
                                      std::function<double()> read) {
  families_.push_back(
      std::make_unique<Sampled>(std::move(name), std::move(help), "counter", std::move(read)));
}

std::string MetricsRegistry::render() const {
  std::string out;
  for (const auto& family : families_) family->render(out);
  return out;
}

}  // namespace amanuensis::service
