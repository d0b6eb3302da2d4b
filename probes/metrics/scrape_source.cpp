// scrape: reads a service's /metrics directly (0.0.4 or OpenMetrics), selects
// series, and turns counters into rates (with counter-reset handling) or
// histogram buckets into quantiles. Keeps per-series history for rates.
#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <set>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "agent/core/async_http.h"
#include "agent/core/http_client.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "probes/metrics/exposition.h"
#include "probes/metrics/scrape_source.h"
#include "probes/metrics/endpoint_config.h"
#include "probes/metrics/series_math.h"

namespace dg {
namespace {

namespace asio = boost::asio;

struct Selected {
  Labels labels;
  double value;
};

// Collects every sample of the wanted names, all labels kept: one parse of a
// scrape serves every query on it; label matchers are applied afterwards.
class Collector final : public ExpositionVisitor {
 public:
  explicit Collector(const std::set<std::string, std::less<>>& names) : names_(names) {}
  void on_sample(const SampleView& s) override {
    auto it = names_.find(s.name);
    if (it == names_.end()) return;
    Labels labels;
    labels.reserve(s.labels.size());
    for (const auto& l : s.labels) labels.emplace_back(std::string(l.name), std::string(l.value));
    std::sort(labels.begin(), labels.end());
    out[*it].push_back({std::move(labels), s.value});
  }
  std::map<std::string, std::vector<Selected>> out;

 private:
  const std::set<std::string, std::less<>>& names_;
};

bool selected(const Labels& labels, const ScrapeQuery& q) {
  for (const auto& m : q.matchers) {
    std::string_view v;
    for (const auto& [k, val] : labels)
      if (k == m.name) v = val;
    if (!m.matches(v)) return false;
  }
  return true;
}

// One fetch of the target: every read of one look shares it (and its parse).
struct Scrape {
  TimePoint taken{};   // on the caller's clock, when the fetch started
  TimePoint done{};    // ... and when it ended
  std::string error;   // the fetch failed: every read of the look says this
  std::string body;
  ExpositionFormat format{};
  std::mutex mu;       // guards what follows
  std::optional<std::string> parse_error;
  std::map<std::string, std::vector<Selected>> samples;  // by sample name, for the names parsed so far
};

// Reads that start while a fetch is in flight wait for it; reads that start
// within this time after it ended reuse it. Below the shortest condition
// interval (100ms), so a later look always scrapes again.
constexpr Duration kShareWindow{50};

Labels group_of(const Labels& labels, const std::vector<std::string>& by, const char* keep = nullptr) {
  Labels g;
  for (const auto& [k, v] : labels)
    if (std::find(by.begin(), by.end(), k) != by.end() || (keep && k == keep)) g.emplace_back(k, v);
  return g;
}

class ScrapeSource final : public MetricSource {
 public:
  explicit ScrapeSource(ScrapeSourceSpec spec) : spec_(std::move(spec)), parser_(spec_.limits) {}

  MetricReading read(const MetricQuery& q, const Clock& clock, std::optional<TimePoint>) override {
    return reading_from(q, look(clock));
  }

  // The look's sharing on the loop: a read that starts while this source's
  // fetch is in flight waits for it, one within kShareWindow after it reuses
  // it, others fetch. (A blocking read() in flight is not waited for: the loop
  // never blocks; the two kinds of read share only finished scrapes.)
  void start_read(AsyncIo& io, const MetricQuery& q, const Clock& clock, std::optional<TimePoint>,
                  std::function<void(MetricReading)> done) override {
    std::unique_lock lock(look_mu_);
    if (!waiting_.empty()) {
      waiting_.push_back({&q, std::move(done)});
      return;
    }
    if (current_ && clock.now() - current_->done <= kShareWindow) {
      asio::post(io.loop, [this, &q, scrape = current_, done = std::move(done)] { done(reading_from(q, scrape)); });
      return;
    }
    waiting_.push_back({&q, std::move(done)});
    current_.reset();  // at most one body held, as in look()
    lock.unlock();
    TimePoint taken = clock.now();
    io.http.perform(request(), [this, &clock, taken](Result<HttpResponse> resp) {
      auto fresh = scrape_from(std::move(resp));
      fresh->taken = taken;
      fresh->done = clock.now();
      std::vector<Waiting> served;
      {
        std::lock_guard relock(look_mu_);
        current_ = fresh;
        served.swap(waiting_);
      }
      for (auto& w : served) w.done(reading_from(*w.query, fresh));
    });
  }

 private:
  struct Waiting {
    const MetricQuery* query;
    std::function<void(MetricReading)> done;
  };

  // One reading from the scrape of its look: select, then sum, rate or quantile.
  MetricReading reading_from(const MetricQuery& q, const std::shared_ptr<Scrape>& scrape) {
    const ScrapeQuery& sq = q.scrape;
    MetricReading r;
    r.query = q.text();
    std::string sample_name = sq.function == ScrapeQuery::Function::Quantile ? sq.metric + "_bucket" : sq.metric;
    r.at = scrape->taken;  // every reading of one look carries the time of its scrape
    if (!scrape->error.empty()) return fail_reading(r, scrape->error);
    std::vector<Selected> picked;
    {
      std::lock_guard lock(scrape->mu);
      if (!scrape->parse_error && !scrape->samples.contains(sample_name)) parse_into(*scrape, sample_name);
      if (scrape->parse_error) return fail_reading(r, *scrape->parse_error);
      for (const auto& s : scrape->samples[sample_name])
        if (selected(s.labels, sq)) picked.push_back(s);
    }
    if (picked.empty()) {
      r.status = ReadingStatus::NoData;
      r.detail = fmt::format("no series named {} matched", sample_name);
      return r;
    }
    switch (sq.function) {
      case ScrapeQuery::Function::Value: sum_into(r, picked, sq.by); break;
      case ScrapeQuery::Function::Rate: rate_into(r, q.text(), picked, sq); break;
      case ScrapeQuery::Function::Quantile: quantile_into(r, q.text(), picked, sq); break;
    }
    return r;
  }

  // The scrape of this look: the one in flight, a fresh enough one, or a new one.
  std::shared_ptr<Scrape> look(const Clock& clock) {
    std::unique_lock lock(look_mu_);
    if (fetching_) {
      look_cv_.wait(lock, [&] { return !fetching_; });
      if (current_) return current_;
    }
    if (current_ && clock.now() - current_->done <= kShareWindow) return current_;
    fetching_ = true;
    current_.reset();  // at most one body held: readers still using the old one keep it alive
    lock.unlock();
    TimePoint taken = clock.now();
    auto fresh = scrape_from(http_perform(request()));
    fresh->taken = taken;
    fresh->done = clock.now();
    lock.lock();
    current_ = fresh;
    fetching_ = false;
    look_cv_.notify_all();
    return fresh;
  }

  HttpRequest request() const {
    HttpRequest req;
    req.url = spec_.url;
    req.headers = spec_.headers;
    req.headers.emplace_back("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4");
    req.timeout = spec_.timeout;
    req.verify_tls = spec_.verify_tls;
    req.tls = spec_.tls;
    req.max_body = spec_.max_body;
    return req;
  }

  std::shared_ptr<Scrape> scrape_from(Result<HttpResponse> resp) const {
    auto out = std::make_shared<Scrape>();
    // Messages never carry the URL: it may hold credentials.
    if (!resp) out->error = fmt::format("scrape: {}", resp.error().message);
    else if (resp->status < 200 || resp->status >= 300)
      out->error = fmt::format("scrape: HTTP {}: {}", resp->status, secrets::excerpt(resp->body, 160));
    else if (resp->body_truncated)
      out->error = fmt::format("scrape: exposition larger than {} MiB (read stopped there)", spec_.max_body >> 20);
    if (!out->error.empty()) return out;
    const std::string* ct = resp->header("content-type");
    out->format = format_from_content_type(ct ? *ct : "");
    out->body = std::move(resp->body);
    return out;
  }

  // Parses the scrape once for every name any query asked for so far (after
  // the first look that is all of them: one parse per look).
  void parse_into(Scrape& scrape, const std::string& name) {
    std::set<std::string, std::less<>> names;
    {
      std::lock_guard lock(names_mu_);
      names_.insert(name);
      for (const auto& n : names_)
        if (!scrape.samples.contains(n)) names.insert(n);
    }
    Collector c(names);
    std::lock_guard lock(parser_mu_);  // the parser remembers this target's names across scrapes
    auto parsed = parser_.parse(scrape.body, scrape.format, c);
    if (!parsed) {
      scrape.parse_error = fmt::format("scrape: invalid exposition at line {}, column {}: {}", parsed.error().line,
                                       parsed.error().column, parsed.error().message);
      return;
    }
    for (const auto& n : names) scrape.samples[n] = std::move(c.out[n]);
  }

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
      upsert_point(points, now, s.value);
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
        upsert_point(points, now, s.value);
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
  std::mutex look_mu_;
  std::condition_variable look_cv_;
  bool fetching_ = false;
  std::shared_ptr<Scrape> current_;
  std::vector<Waiting> waiting_;  // start_read()s served by the fetch in flight on the loop
  std::mutex names_mu_;
  std::set<std::string> names_;
  std::mutex parser_mu_;
  ExpositionParser parser_;
  std::mutex mu_;
  std::map<std::string, std::map<Labels, std::deque<Point>>> history_;
};

}  // namespace

std::unique_ptr<MetricSource> make_scrape_source(const ScrapeSourceSpec& spec) {
  return std::make_unique<ScrapeSource>(spec);
}

void register_scrape_source(MetricSourceRegistry& registry) {
  registry.add(
      "scrape",
      [](const MetricSourceSpec& s) -> Result<std::unique_ptr<MetricSource>> {
        return make_scrape_source(s.kind.as<ScrapeSourceSpec>());
      },
      [](ConfigReader& r, MetricSourceSpec& spec) {
        ScrapeSourceSpec sc;
        decode_endpoint(r, sc, "the /metrics URL", "http://127.0.0.1:8080/metrics");
        // Bounds on one scrape's exposition (docs/config.md); always bounded.
        auto limit = [&](std::string_view key, size_t& field, long long max) {
          if (auto v = r.integer(key, 1, max)) field = static_cast<size_t>(*v);
        };
        limit("max_labels_per_sample", sc.limits.max_labels_per_sample, 1'000'000);
        limit("max_label_name_length", sc.limits.max_label_name_length, 64ll << 20);
        limit("max_label_value_length", sc.limits.max_label_value_length, 64ll << 20);
        limit("max_series", sc.limits.max_series, 100'000'000);
        limit("max_line_length", sc.limits.max_line_length, 64ll << 20);
        spec.queries = MetricSourceSpec::Queries::Selection;
        spec.has_history = false;  // only the scrapes since it started
        spec.kind = std::move(sc);
      });
}

}  // namespace dg
