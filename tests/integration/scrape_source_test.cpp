// The scrape metric source against a loopback server whose exposition the
// test sets before each read: sums with label matchers and grouping, rates
// from two scrapes timed by a fake clock (with a counter reset), quantiles
// from _bucket series, OpenMetrics, and the NoData / Error split.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "probes/metrics/scrape_source.h"
#include "agent/core/clock.h"
#include "probes/metrics/metric_source.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"

namespace dg::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kText004 = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// What the fake service answers on /metrics; changed between reads.
class Exporter {
 public:
  Exporter()
      : server_([this](const Request&) {
          std::lock_guard lock(mu_);
          return Response{status_, body_, {{"Content-Type", content_type_}}};
        }) {}
  void serve(std::string body, std::string content_type = kText004, int status = 200) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
    content_type_ = std::move(content_type);
    status_ = status;
  }
  std::string url() const { return server_.url("/metrics"); }
  HttpServer& server() { return server_; }

 private:
  std::mutex mu_;
  std::string body_, content_type_ = kText004;
  int status_ = 200;
  HttpServer server_;  // last: its thread may call the handler as soon as it exists
};

std::unique_ptr<MetricSource> make_source(const std::string& url) {
  MetricSourceRegistry registry;
  register_builtin_metric_sources(registry);
  ScrapeSourceSpec spec;
  spec.url = url;
  spec.timeout = Duration{3000};
  auto source = registry.make(MetricSourceSpec{.name = "wiki", .type = "scrape", .kind = spec});
  if (!source) {
    ADD_FAILURE() << "cannot build scrape source: " << source.error().message;
    return nullptr;
  }
  return std::move(*source);
}

LabelMatcher eq(std::string name, std::string value) {
  return LabelMatcher{.name = std::move(name), .op = LabelMatcher::Op::Eq, .value = std::move(value)};
}
LabelMatcher ne(std::string name, std::string value) {
  return LabelMatcher{.name = std::move(name), .op = LabelMatcher::Op::Ne, .value = std::move(value)};
}
LabelMatcher re(std::string name, std::string value, bool negate = false) {
  auto compiled = *Regex::compile(value);
  return LabelMatcher{.name = std::move(name), .op = negate ? LabelMatcher::Op::NotRe : LabelMatcher::Op::Re,
                      .value = std::move(value), .re = std::move(compiled)};
}

MetricQuery query(std::string metric, std::vector<LabelMatcher> matchers = {}, std::vector<std::string> by = {},
                  ScrapeQuery::Function f = ScrapeQuery::Function::Value) {
  MetricQuery q;
  q.scrape.metric = std::move(metric);
  q.scrape.matchers = std::move(matchers);
  q.scrape.by = std::move(by);
  q.scrape.function = f;
  return q;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
std::string status(const MetricReading& r) { return to_string(r.status); }

std::string dump(const MetricReading& r) {
  std::string out = std::string(to_string(r.status)) + " [" + r.detail + "]";
  for (const auto& s : r.series) out += " " + labels_key(s.labels) + "=" + std::to_string(s.value);
  return out;
}

const std::string kRequests =
    "# HELP http_requests_total Requests served.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{code=\"200\",route=\"/view\"} 100\n"
    "http_requests_total{code=\"500\",route=\"/view\"} 5\n"
    "http_requests_total{code=\"200\",route=\"/edit\"} 40\n"
    "http_requests_total{code=\"503\",route=\"/edit\"} 3\n"
    "http_requests_total{code=\"404\",route=\"/edit\"} 2\n"
    "# TYPE other_total counter\n"
    "other_total{code=\"500\"} 1000\n";

// ---- Value ---------------------------------------------------------------------

struct ValueCase {
  const char* name;
  std::vector<LabelMatcher> matchers;
  double want;
};
void PrintTo(const ValueCase& c, std::ostream* os) { *os << c.name; }

class ScrapeValue : public ::testing::TestWithParam<ValueCase> {};

TEST_P(ScrapeValue, SumsTheMatchingSeries) {
  const ValueCase& c = GetParam();
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total", c.matchers), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 1u) << dump(r);
  EXPECT_TRUE(r.series[0].labels.empty()) << dump(r);
  EXPECT_DOUBLE_EQ(r.series[0].value, c.want) << dump(r);
  EXPECT_EQ(r.at, clock.now());
}

INSTANTIATE_TEST_SUITE_P(
    Matchers, ScrapeValue,
    ::testing::Values(ValueCase{"all", {}, 150},
                      ValueCase{"eq", {eq("route", "/edit")}, 45},
                      ValueCase{"ne", {ne("code", "200")}, 10},
                      ValueCase{"re", {re("code", "5..")}, 8},
                      ValueCase{"not_re", {re("code", "2..|404", true)}, 8},
                      ValueCase{"two_matchers", {eq("route", "/edit"), re("code", "[45]..")}, 5},
                      // A missing label reads as "": route="" matches nothing here, zone="" matches all.
                      ValueCase{"missing_label_is_empty", {eq("zone", "")}, 150},
                      ValueCase{"ne_missing_label", {ne("zone", "eu")}, 150}));

TEST(ScrapeSource, RegexIsFullyAnchored) {
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  // "5" would find "503" and "500" unanchored; fully anchored it matches no code.
  MetricReading r = source->read(query("http_requests_total", {re("code", "5")}), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(r.series.empty());
}

TEST(ScrapeSource, ValueGroupedBy) {
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total", {}, {"route"}), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 2u) << dump(r);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({route="/edit"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 45);
  EXPECT_EQ(labels_key(r.series[1].labels), R"({route="/view"})");
  EXPECT_DOUBLE_EQ(r.series[1].value, 105);

  r = source->read(query("http_requests_total", {ne("code", "200")}, {"route", "code"}), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 3u) << dump(r);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({code="404",route="/edit"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 2);
  EXPECT_EQ(labels_key(r.series[1].labels), R"({code="500",route="/view"})");
  EXPECT_DOUBLE_EQ(r.series[1].value, 5);
  EXPECT_EQ(labels_key(r.series[2].labels), R"({code="503",route="/edit"})");
  EXPECT_DOUBLE_EQ(r.series[2].value, 3);
}

TEST(ScrapeSource, AsksForOpenMetricsOrText) {
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  (void)source->read(query("http_requests_total"), clock);
  auto reqs = exporter.server().requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/metrics");
  std::string accept = reqs[0].header("Accept");
  EXPECT_TRUE(contains(accept, "application/openmetrics-text")) << accept;
  EXPECT_TRUE(contains(accept, "text/plain;version=0.0.4")) << accept;
}

// ---- Rate --------------------------------------------------------------------------

std::string counter(double view, double edit) {
  return "# TYPE http_requests_total counter\n"
         "http_requests_total{route=\"/view\"} " + std::to_string(view) + "\n"
         "http_requests_total{route=\"/edit\"} " + std::to_string(edit) + "\n";
}

TEST(ScrapeSource, RateNeedsTwoScrapesThenUsesTheClock) {
  Exporter exporter;
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("http_requests_total", {}, {}, ScrapeQuery::Function::Rate);
  q.scrape.window = Duration{60'000};

  exporter.serve(counter(1000, 200));
  MetricReading first = source->read(q, clock);
  EXPECT_EQ(status(first), "no_data") << dump(first);
  EXPECT_TRUE(contains(first.detail, "need a second scrape")) << first.detail;
  EXPECT_TRUE(first.series.empty()) << "a first scrape is no rate, not a zero rate";

  // 10 s later: /view +50, /edit +30 → 8 requests per second in all.
  clock.advance(10s);
  exporter.serve(counter(1050, 230));
  MetricReading second = source->read(q, clock);
  ASSERT_EQ(status(second), "ok") << dump(second);
  ASSERT_EQ(second.series.size(), 1u);
  EXPECT_DOUBLE_EQ(second.series[0].value, 8.0) << dump(second);
  EXPECT_EQ(second.at, clock.now());

  // Another 10 s: /view restarted and counted 30 since; /edit +20. Over the
  // 20 s of history: /view 50 + 30 = 80, /edit 30 + 20 = 50 → 130 / 20 s.
  clock.advance(10s);
  exporter.serve(counter(30, 250));
  MetricReading third = source->read(q, clock);
  ASSERT_EQ(status(third), "ok") << dump(third);
  ASSERT_EQ(third.series.size(), 1u);
  EXPECT_DOUBLE_EQ(third.series[0].value, 130.0 / 20.0) << dump(third);
  EXPECT_GE(third.series[0].value, 0);
}

TEST(ScrapeSource, RatePerSeriesWithResetAndWindow) {
  Exporter exporter;
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("http_requests_total", {}, {"route"}, ScrapeQuery::Function::Rate);
  q.scrape.window = Duration{10'000};  // only the newest step counts

  exporter.serve(counter(1000, 200));
  ASSERT_EQ(status(source->read(q, clock)), "no_data");
  clock.advance(10s);
  exporter.serve(counter(1100, 210));
  MetricReading r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 2u) << dump(r);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({route="/edit"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 1.0);
  EXPECT_EQ(labels_key(r.series[1].labels), R"({route="/view"})");
  EXPECT_DOUBLE_EQ(r.series[1].value, 10.0);

  // /edit restarts and reaches 40 in the next 10 s: 40 new requests, not -170.
  clock.advance(10s);
  exporter.serve(counter(1200, 40));
  r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 2u) << dump(r);
  EXPECT_DOUBLE_EQ(r.series[0].value, 4.0) << dump(r);
  EXPECT_DOUBLE_EQ(r.series[1].value, 10.0) << dump(r);
}

TEST(ScrapeSource, RateWithMatcherOnlyFollowsTheMatchingSeries) {
  Exporter exporter;
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("http_requests_total", {eq("route", "/edit")}, {}, ScrapeQuery::Function::Rate);
  exporter.serve(counter(0, 0));
  (void)source->read(q, clock);
  clock.advance(20s);
  exporter.serve(counter(1000, 60));
  MetricReading r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_DOUBLE_EQ(r.series[0].value, 3.0) << dump(r);
}

// ---- Quantile ----------------------------------------------------------------------

const std::string kLatency =
    "# HELP http_request_duration_seconds Latency.\n"
    "# TYPE http_request_duration_seconds histogram\n"
    "http_request_duration_seconds_bucket{route=\"/view\",le=\"0.1\"} 10\n"
    "http_request_duration_seconds_bucket{route=\"/view\",le=\"0.5\"} 30\n"
    "http_request_duration_seconds_bucket{route=\"/view\",le=\"1\"} 45\n"
    "http_request_duration_seconds_bucket{route=\"/view\",le=\"+Inf\"} 50\n"
    "http_request_duration_seconds_sum{route=\"/view\"} 20.5\n"
    "http_request_duration_seconds_count{route=\"/view\"} 50\n"
    "http_request_duration_seconds_bucket{route=\"/edit\",le=\"0.1\"} 0\n"
    "http_request_duration_seconds_bucket{route=\"/edit\",le=\"0.5\"} 10\n"
    "http_request_duration_seconds_bucket{route=\"/edit\",le=\"1\"} 10\n"
    "http_request_duration_seconds_bucket{route=\"/edit\",le=\"+Inf\"} 10\n"
    "http_request_duration_seconds_sum{route=\"/edit\"} 3\n"
    "http_request_duration_seconds_count{route=\"/edit\"} 10\n";

MetricQuery quantile(double q, std::vector<std::string> by = {}, std::vector<LabelMatcher> m = {}) {
  MetricQuery out = query("http_request_duration_seconds", std::move(m), std::move(by), ScrapeQuery::Function::Quantile);
  out.scrape.quantile = q;
  out.scrape.window = Duration{0};  // since the process started: one scrape is enough
  return out;
}

TEST(ScrapeSource, QuantileOverAWindowSeesOnlyWhatTheBucketsCountedInIt) {
  // 1000 fast requests in the past; then 100 slow ones within the window.
  auto body = [](int fast, int slow) {
    return "# TYPE lat histogram\n"
           "lat_bucket{le=\"0.1\"} " + std::to_string(fast) + "\n"
           "lat_bucket{le=\"1\"} " + std::to_string(fast) + "\n"
           "lat_bucket{le=\"10\"} " + std::to_string(fast + slow) + "\n"
           "lat_bucket{le=\"+Inf\"} " + std::to_string(fast + slow) + "\n";
  };
  Exporter exporter;
  exporter.serve(body(1000, 0));
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("lat", {}, {}, ScrapeQuery::Function::Quantile);
  q.scrape.quantile = 0.5;
  q.scrape.window = Duration{30'000};
  EXPECT_EQ(status(source->read(q, clock)), "no_data") << "one scrape shows nothing counted within a window";
  clock.advance(Duration{10'000});
  exporter.serve(body(1000, 100));
  MetricReading r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  // Lifetime the median is below 0.1 s; within the window every request was slow: 1 + 9 * 50/100.
  EXPECT_NEAR(r.series.at(0).value, 5.5, 1e-9) << dump(r);
}

TEST(ScrapeSource, QuantileFromBuckets) {
  Exporter exporter;
  exporter.serve(kLatency);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;

  // Both routes' buckets summed: 10, 40, 55, 60. Rank 30 in (0.1,0.5]: 0.1 + 0.4 * 20/30.
  MetricReading r = source->read(quantile(0.5), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_NEAR(r.series[0].value, 0.1 + 0.4 * 20.0 / 30.0, 1e-12) << dump(r);

  // Per route: /view median 0.1 + 0.4 * 15/20 = 0.4; /edit 0.1 + 0.4 * 5/10 = 0.3.
  r = source->read(quantile(0.5, {"route"}), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 2u) << dump(r);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({route="/edit"})");
  EXPECT_NEAR(r.series[0].value, 0.3, 1e-12);
  EXPECT_EQ(labels_key(r.series[1].labels), R"({route="/view"})");
  EXPECT_NEAR(r.series[1].value, 0.4, 1e-12);

  // p99 of /view lands in +Inf: the highest finite bound.
  r = source->read(quantile(0.99, {}, {eq("route", "/view")}), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 1.0);
}

TEST(ScrapeSource, QuantileWithoutObservationsIsNoData) {
  Exporter exporter;
  exporter.serve(
      "# TYPE rpc_seconds histogram\n"
      "rpc_seconds_bucket{le=\"0.1\"} 0\n"
      "rpc_seconds_bucket{le=\"+Inf\"} 0\n"
      "rpc_seconds_sum 0\n"
      "rpc_seconds_count 0\n");
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("rpc_seconds", {}, {}, ScrapeQuery::Function::Quantile);
  MetricReading r = source->read(q, clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(r.series.empty()) << dump(r);
}

// ---- OpenMetrics -------------------------------------------------------------------

const std::string kOpenMetricsBody =
    "# TYPE http_requests counter\n"
    "# HELP http_requests Requests served.\n"
    "http_requests_total{route=\"/view\"} 100.0\n"
    "http_requests_created{route=\"/view\"} 1.7e+09\n"
    "http_requests_total{route=\"/edit\"} 20.0 # {trace_id=\"abc123\"} 1.0 1.7e+09\n"
    "http_requests_created{route=\"/edit\"} 1.7e+09\n"
    "# TYPE latency_seconds histogram\n"
    "# UNIT latency_seconds seconds\n"
    "latency_seconds_bucket{le=\"0.1\"} 10\n"
    "latency_seconds_bucket{le=\"0.5\"} 30\n"
    "latency_seconds_bucket{le=\"1.0\"} 45\n"
    "latency_seconds_bucket{le=\"+Inf\"} 50\n"
    "latency_seconds_count 50\n"
    "latency_seconds_sum 20.5\n"
    "# EOF\n";

TEST(ScrapeSource, OpenMetricsBodyParses) {
  Exporter exporter;
  exporter.serve(kOpenMetricsBody, kOpenMetrics);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total"), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 120) << "the _created samples are not requests";

  MetricQuery q = query("latency_seconds", {}, {}, ScrapeQuery::Function::Quantile);
  q.scrape.quantile = 0.5;
  q.scrape.window = Duration{0};
  r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_NEAR(r.series.at(0).value, 0.4, 1e-12) << "le=\"1.0\" is the same bound as le=\"1\"";
}

TEST(ScrapeSource, OpenMetricsContentTypeSelectsTheStrictParser) {
  // Without "# EOF" the body is not OpenMetrics: served as such it is an error.
  std::string truncated = kOpenMetricsBody.substr(0, kOpenMetricsBody.find("# EOF"));
  Exporter exporter;
  exporter.serve(truncated, kOpenMetrics);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total"), clock);
  EXPECT_EQ(status(r), "error") << dump(r);
  EXPECT_TRUE(contains(r.detail, "# EOF")) << r.detail;
  EXPECT_TRUE(r.series.empty());
}

TEST(ScrapeSource, ParserStateDoesNotLeakBetweenScrapes) {
  // One source keeps its parser across scrapes; each scrape must still be
  // judged on its own body.
  Exporter exporter;
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricQuery q = query("http_requests_total");

  exporter.serve(kOpenMetricsBody, kOpenMetrics);
  MetricReading r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 120);

  // A broken scrape in the middle of a family...
  std::string broken = kOpenMetricsBody.substr(0, kOpenMetricsBody.find("latency_seconds_count")) + "latency_seconds_count x\n# EOF\n";
  exporter.serve(broken, kOpenMetrics);
  clock.advance(Duration{1000});  // a new look scrapes again
  r = source->read(q, clock);
  EXPECT_EQ(status(r), "error") << dump(r);

  // ...does not poison the next one: same body, same answer.
  exporter.serve(kOpenMetricsBody, kOpenMetrics);
  clock.advance(Duration{1000});  // a new look scrapes again
  r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 120);

  // The families come back in another order and the metric changed type:
  // nothing from the earlier scrapes (types, "family already seen") carries over.
  exporter.serve(
      "# TYPE latency_seconds gauge\n"
      "latency_seconds 0.2\n"
      "# TYPE http_requests_total gauge\n"
      "http_requests_total{route=\"/view\"} 7\n"
      "http_requests_total{route=\"/edit\"} 3\n",
      kText004);
  clock.advance(Duration{1000});  // a new look scrapes again
  r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 10);

  exporter.serve(kOpenMetricsBody, kOpenMetrics);
  clock.advance(Duration{1000});  // a new look scrapes again
  r = source->read(q, clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  EXPECT_DOUBLE_EQ(r.series.at(0).value, 120);
}

// ---- failures and no data ----------------------------------------------------------

TEST(ScrapeSource, InvalidExpositionIsAnErrorWithLineAndColumn) {
  Exporter exporter;
  exporter.serve(
      "# TYPE x_total counter\n"
      "x_total 1\n"
      "x_total{a=\"b\" 2\n");
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("x_total"), clock);
  EXPECT_EQ(status(r), "error") << dump(r);
  EXPECT_TRUE(r.series.empty()) << "the sample on line 2 must not be used from a broken exposition";
  // Line 3, at the "2": whitespace after a label value is allowed in 0.0.4,
  // so the parser stops where it expected ',' or '}' (1-based column 15).
  EXPECT_TRUE(contains(r.detail, "line 3, column 15")) << r.detail;
  EXPECT_FALSE(contains(r.detail, exporter.url())) << "URLs may hold credentials: " << r.detail;
}

TEST(ScrapeSource, Http500IsAnError) {
  Exporter exporter;
  exporter.serve("exporter crashed: out of memory\n", "text/plain", 500);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total"), clock);
  EXPECT_EQ(status(r), "error") << dump(r);
  EXPECT_TRUE(contains(r.detail, "HTTP 500")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "out of memory")) << r.detail;
  EXPECT_TRUE(r.series.empty());
}

TEST(ScrapeSource, Http500WithAValidExpositionIsStillAnError) {
  Exporter exporter;
  exporter.serve(kRequests, kText004, 500);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total"), clock);
  EXPECT_EQ(status(r), "error") << dump(r);
  EXPECT_TRUE(r.series.empty());
}

TEST(ScrapeSource, ConnectionRefusedIsAnError) {
  auto source = make_source("http://127.0.0.1:" + std::to_string(closed_port()) + "/metrics");
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total"), clock);
  EXPECT_EQ(status(r), "error") << dump(r);
  EXPECT_FALSE(r.detail.empty());
}

TEST(ScrapeSource, NoMatchingSeriesIsNoDataNotZero) {
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  MetricReading r = source->read(query("http_requests_total", {eq("route", "/admin")}), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "http_requests_total")) << r.detail;

  r = source->read(query("does_not_exist_total"), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(contains(r.detail, "does_not_exist_total")) << r.detail;
  // A family the query did not ask for is not picked up by a name prefix.
  r = source->read(query("http_requests"), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
}

TEST(ScrapeSource, NaNSampleIsNotANumber) {
  Exporter exporter;
  exporter.serve(
      "# TYPE queue_ratio gauge\n"
      "queue_ratio{shard=\"a\"} NaN\n"
      "queue_ratio{shard=\"b\"} 0.25\n"
      "# TYPE broken gauge\n"
      "broken NaN\n"
      "# TYPE huge gauge\n"
      "huge +Inf\n");
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;

  MetricReading r = source->read(query("broken"), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(r.series.empty()) << dump(r);
  EXPECT_TRUE(contains(r.detail, "NaN")) << r.detail;

  r = source->read(query("huge"), clock);
  EXPECT_EQ(status(r), "no_data") << dump(r);
  EXPECT_TRUE(r.series.empty()) << dump(r);

  // Grouped: the NaN shard is left out, the finite one is reported.
  r = source->read(query("queue_ratio", {}, {"shard"}), clock);
  ASSERT_EQ(status(r), "ok") << dump(r);
  ASSERT_EQ(r.series.size(), 1u) << dump(r);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({shard="b"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 0.25);
  EXPECT_TRUE(contains(r.detail, "1 series")) << r.detail;

  // Summed into one series, a NaN member makes the sum unusable: never a number.
  r = source->read(query("queue_ratio"), clock);
  EXPECT_NE(status(r), "ok") << dump(r);
  for (const auto& s : r.series) EXPECT_TRUE(std::isfinite(s.value)) << dump(r);
}

}  // namespace
}  // namespace dg::test

namespace dg::test {
namespace {

TEST(ScrapeSourceLook, OneRequestServesEveryReadOfALook) {
  // A canary's four counters and two more conditions on the same source, at
  // the same tick and from several threads: one HTTP fetch, one parse.
  Exporter exporter;
  exporter.serve(kRequests);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  std::vector<MetricQuery> queries{
      query("http_requests_total", {eq("code", "500")}), query("http_requests_total"),
      query("http_requests_total", {eq("route", "/edit"), ne("code", "200")}), query("http_requests_total", {eq("route", "/edit")}),
      query("other_total"), query("http_requests_total", {}, {}, ScrapeQuery::Function::Rate)};
  auto one_look = [&] {
    std::vector<std::thread> threads;
    std::vector<MetricReading> out(queries.size());
    for (size_t i = 0; i < queries.size(); ++i)
      threads.emplace_back([&, i] { out[i] = source->read(queries[i], clock); });
    for (auto& t : threads) t.join();
    return out;
  };
  auto first = one_look();
  EXPECT_EQ(exporter.server().requests().size(), 1u);
  EXPECT_DOUBLE_EQ(first[0].series.at(0).value, 5);
  EXPECT_DOUBLE_EQ(first[1].series.at(0).value, 150);
  EXPECT_DOUBLE_EQ(first[2].series.at(0).value, 5);
  EXPECT_DOUBLE_EQ(first[3].series.at(0).value, 45);
  EXPECT_DOUBLE_EQ(first[4].series.at(0).value, 1000);

  clock.advance(Duration{1000});
  auto second = one_look();
  EXPECT_EQ(exporter.server().requests().size(), 2u) << "a new look scrapes again, once";
  EXPECT_EQ(status(second[5]), "ok") << dump(second[5]) << ": the rate needs the two looks' points";
}

TEST(ScrapeSourceLook, AFailedFetchFailsTheWholeLookOnce) {
  Exporter exporter;
  exporter.serve("oops", kText004, 503);
  auto source = make_source(exporter.url());
  ASSERT_TRUE(source);
  FakeClock clock;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(status(source->read(query("http_requests_total"), clock)), "error");
  EXPECT_EQ(exporter.server().requests().size(), 1u);
}

}  // namespace
}  // namespace dg::test
