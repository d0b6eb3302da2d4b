// scrape: reads a service's /metrics directly (0.0.4 or OpenMetrics), selects
// series, and turns counters into rates (with counter-reset handling) or
// histogram buckets into quantiles. Keeps per-series history for rates.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>

#include "agent/core/http_client.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "probes/metrics/exposition.h"
#include "probes/metrics/metric_source.h"
#include "probes/metrics/series_math.h"

namespace dg {
namespace {

struct Selected {
  Labels labels;
  double value;
};

class Selector final : public ExpositionVisitor {
 public:
  Selector(const ScrapeQuery& q, std::string name) : q_(q), name_(std::move(name)) {}
  void on_sample(const SampleView& s) override {
    if (s.name != name_) return;
    for (const auto& m : q_.matchers) {
      std::string_view v;
      for (const auto& l : s.labels)
        if (l.name == m.name) v = l.value;
      if (!m.matches(v)) return;
    }
    Labels labels;
    labels.reserve(s.labels.size());
    for (const auto& l : s.labels) labels.emplace_back(std::string(l.name), std::string(l.value));
    std::sort(labels.begin(), labels.end());
    out.push_back({std::move(labels), s.value});
  }
  std::vector<Selected> out;

 private:
  const ScrapeQuery& q_;
  std::string name_;
};

Labels group_of(const Labels& labels, const std::vector<std::string>& by, const char* keep = nullptr) {
  Labels g;
  for (const auto& [k, v] : labels)
    if (std::find(by.begin(), by.end(), k) != by.end() || (keep && k == keep)) g.emplace_back(k, v);
  return g;
}

class ScrapeSource final : public MetricSource {
 public:
  explicit ScrapeSource(ScrapeSourceSpec spec) : spec_(std::move(spec)) {}

  MetricReading read(const MetricQuery& q, const Clock& clock, std::optional<TimePoint>) override {
    const ScrapeQuery& sq = q.scrape;
    MetricReading r;
    r.at = clock.now();
    r.query = q.text();
    HttpRequest req;
    req.url = spec_.url;
    req.headers = spec_.headers;
    req.headers.emplace_back("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4");
    req.timeout = spec_.timeout;
    req.verify_tls = spec_.verify_tls;
    req.max_body = 64 * 1024 * 1024;
    auto resp = http_perform(req);
    // Messages never carry the URL: it may hold credentials.
    if (!resp) return fail_reading(r, fmt::format("scrape: {}", resp.error().message));
    if (resp->status < 200 || resp->status >= 300)
      return fail_reading(r, fmt::format("scrape: HTTP {}: {}", resp->status, secrets::excerpt(resp->body, 160)));
    if (resp->body_truncated) return fail_reading(r, "scrape: exposition larger than 64 MiB");
    const std::string* ct = resp->header("content-type");
    ExpositionFormat format = format_from_content_type(ct ? *ct : "");
    std::string sample_name = sq.function == ScrapeQuery::Function::Quantile ? sq.metric + "_bucket" : sq.metric;
    Selector sel(sq, sample_name);
    auto parsed = [&] {
      std::lock_guard lock(parser_mu_);  // the parser remembers this target's names across scrapes
      return parser_.parse(resp->body, format, sel);
    }();
    if (!parsed)
      return fail_reading(r, fmt::format("scrape: invalid exposition at line {}, column {}: {}", parsed.error().line,
                                         parsed.error().column, parsed.error().message));
    if (sel.out.empty()) {
      r.status = ReadingStatus::NoData;
      r.detail = fmt::format("no series named {} matched", sample_name);
      return r;
    }
    switch (sq.function) {
      case ScrapeQuery::Function::Value: sum_into(r, sel.out, sq.by); break;
      case ScrapeQuery::Function::Rate: rate_into(r, q.text(), sel.out, sq); break;
      case ScrapeQuery::Function::Quantile: quantile_into(r, q.text(), sel.out, sq); break;
    }
    return r;
  }

 private:
  static MetricReading fail_reading(MetricReading& r, std::string detail) {
    r.status = ReadingStatus::Error;
    r.detail = std::move(detail);
    return r;
  }

  static void finish(MetricReading& r, std::map<Labels, double> groups, size_t unusable) {
    for (auto& [labels, v] : groups) {
      if (std::isnan(v) || std::isinf(v)) {
        ++unusable;
        continue;
      }
      r.series.push_back({labels, v});
    }
    if (r.series.empty()) {
      r.status = ReadingStatus::NoData;
      if (r.detail.empty()) r.detail = "no usable value (NaN or infinite)";
    } else {
      r.status = ReadingStatus::Ok;
      if (unusable && r.detail.empty()) r.detail = fmt::format("{} series had no usable value", unusable);
    }
  }

  static void sum_into(MetricReading& r, const std::vector<Selected>& in, const std::vector<std::string>& by) {
    std::map<Labels, double> groups;
    for (const auto& s : in) groups[group_of(s.labels, by)] += s.value;
    finish(r, std::move(groups), 0);
  }

  void rate_into(MetricReading& r, const std::string& key, const std::vector<Selected>& in, const ScrapeQuery& q) {
    std::lock_guard lock(mu_);
    auto& series = history_[key];
    double now = std::chrono::duration<double>(r.at.time_since_epoch()).count();
    std::map<Labels, double> groups;
    size_t ready = 0;
    for (const auto& s : in) {
      auto& points = series[s.labels];
      points.push_back({now, s.value});
      trim_window(points, std::chrono::duration<double>(q.window).count());
      if (auto rate = counter_rate(points)) {
        groups[group_of(s.labels, q.by)] += *rate;
        ++ready;
      }
    }
    // Forget series that stopped appearing (labels change over time).
    double horizon = now - 2 * std::chrono::duration<double>(q.window).count();
    for (auto it = series.begin(); it != series.end();)
      it = !it->second.empty() && it->second.back().t < horizon ? series.erase(it) : std::next(it);
    if (ready == 0) {
      r.status = ReadingStatus::NoData;
      r.detail = "need a second scrape to compute a rate";
      return;
    }
    finish(r, std::move(groups), 0);
  }

  // Quantile of what the buckets counted within the window (window = 0: since
  // the process started), so a fresh regression is not diluted by history.
  void quantile_into(MetricReading& r, const std::string& key, const std::vector<Selected>& in, const ScrapeQuery& q) {
    double window = std::chrono::duration<double>(q.window).count();
    double now = std::chrono::duration<double>(r.at.time_since_epoch()).count();
    std::map<Labels, std::vector<Bucket>> groups;
    size_t ready = 0;
    std::lock_guard lock(mu_);
    auto& series = history_[key];
    for (const auto& s : in) {
      std::string le;
      for (const auto& [k, v] : s.labels)
        if (k == "le") le = v;
      auto bound = parse_le(le);
      if (!bound) continue;
      double count = s.value;
      if (window > 0) {
        auto& points = series[s.labels];
        points.push_back({now, s.value});
        trim_window(points, window);
        auto rate = counter_rate(points);
        if (!rate) continue;
        count = *rate * (points.back().t - points.front().t);
      }
      ++ready;
      auto& buckets = groups[group_of(s.labels, q.by)];
      auto it = std::find_if(buckets.begin(), buckets.end(), [&](const Bucket& b) { return b.le == *bound; });
      if (it == buckets.end()) buckets.push_back({*bound, count});
      else it->count += count;
    }
    if (ready == 0) {
      r.status = ReadingStatus::NoData;
      r.detail = "need a second scrape to see what the buckets counted within the window";
      return;
    }
    std::map<Labels, double> out;
    for (auto& [labels, buckets] : groups) out[labels] = histogram_quantile(q.quantile, buckets);
    finish(r, std::move(out), 0);
  }

  ScrapeSourceSpec spec_;
  std::mutex parser_mu_;
  ExpositionParser parser_;
  std::mutex mu_;
  std::map<std::string, std::map<Labels, std::deque<Point>>> history_;
};

}  // namespace

std::unique_ptr<MetricSource> make_scrape_source(const ScrapeSourceSpec& spec) {
  return std::make_unique<ScrapeSource>(spec);
}

std::unique_ptr<MetricSource> make_prometheus_source(const PrometheusSourceSpec& spec);

void register_builtin_metric_sources(MetricSourceRegistry& registry) {
  registry.add("prometheus", [](const MetricSourceSpec& s) -> Result<std::unique_ptr<MetricSource>> {
    return make_prometheus_source(std::get<PrometheusSourceSpec>(s.kind));
  });
  registry.add("scrape", [](const MetricSourceSpec& s) -> Result<std::unique_ptr<MetricSource>> {
    return make_scrape_source(std::get<ScrapeSourceSpec>(s.kind));
  });
}

}  // namespace dg
