// The asynchronous forms of the built-in signals on one loop: HttpProbe and
// TcpProbe start(), PrometheusSource and ScrapeSource start_read(). Each
// must say what its blocking form says about the same target.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>

#include "probes/metrics/scrape_source.h"
#include "probes/metrics/prometheus_source.h"
#include "probes/command_probe.h"
#include "probes/tcp_probe.h"
#include "probes/http_probe.h"
#include "agent/core/async_http.h"
#include "agent/core/clock.h"
#include "probes/metrics/metric_source.h"
#include "probes/probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"
#include "tests/support/keepalive_server.h"
#include "tests/support/temp_dir.h"

namespace dg::test {
namespace {

// A loop, its HTTP multi handle and the AsyncIo that signals are given.
struct Loop {
  boost::asio::io_context loop;
  AsyncHttp http{loop};
  AsyncIo io{loop, http};
};

Observation start_probe(Probe& probe, const Clock& clock) {
  Loop l;
  std::optional<Observation> out;
  probe.start(l.io, clock, [&](Observation o) { out = std::move(o); });
  EXPECT_FALSE(out) << "called inside start()";
  l.loop.run();
  EXPECT_TRUE(out) << "never called";
  return out.value_or(Observation{});
}

ProbeSpec http_spec(const std::string& url, HttpExpect ex = {}, Duration timeout = Duration{3000}) {
  HttpProbeSpec h;
  h.url = url;
  h.expect = std::move(ex);
  return ProbeSpec{.name = "page", .type = "http", .timeout = timeout, .kind = h};
}

// Same outcome and, but for timings, the same words.
void expect_same(const Observation& async, const Observation& blocking) {
  EXPECT_EQ(async.outcome, blocking.outcome) << async.detail << " | " << blocking.detail;
  EXPECT_EQ(async.signal, blocking.signal);
  EXPECT_EQ(async.excerpt, blocking.excerpt);
  if (async.outcome == Outcome::Passed) {
    EXPECT_EQ(async.detail.substr(0, async.detail.find(" in ")), blocking.detail.substr(0, blocking.detail.find(" in ")));
  } else {
    EXPECT_EQ(async.detail, blocking.detail);
  }
}

struct HttpCase {
  const char* name;
  int status;
  std::string body;
  std::vector<std::string> contains;
  Outcome want;
};
void PrintTo(const HttpCase& c, std::ostream* os) { *os << c.name; }

class AsyncHttpProbe : public ::testing::TestWithParam<HttpCase> {};

TEST_P(AsyncHttpProbe, SameObservationAsRun) {
  const HttpCase& c = GetParam();
  HttpServer server([&](const Request&) { return Response{c.status, c.body}; });
  HttpExpect ex;
  ex.body_contains = c.contains;
  auto probe = make_probe(http_spec(server.url("/"), ex));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  Observation async = start_probe(*probe, clock);
  Observation blocking = probe->run(clock);
  EXPECT_EQ(async.outcome, c.want) << async.detail;
  expect_same(async, blocking);
}

INSTANTIATE_TEST_SUITE_P(Outcomes, AsyncHttpProbe,
                         ::testing::Values(HttpCase{"pass", 200, "editor ready", {"ready"}, Outcome::Passed},
                                           HttpCase{"status", 503, "down", {}, Outcome::Failed},
                                           HttpCase{"body", 200, "maintenance page", {"ready"}, Outcome::Failed}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AsyncHttpProbeErrors, ClosedPortIsErrorAsInRun) {
  auto probe = make_probe(http_spec("http://127.0.0.1:" + std::to_string(closed_port()) + "/health"));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  Observation async = start_probe(*probe, clock);
  EXPECT_EQ(async.outcome, Outcome::Error) << async.detail;
  expect_same(async, probe->run(clock));
}

TEST(AsyncHttpProbeErrors, TimeoutIsErrorAsInRun) {
  HttpServer server([](const Request&) { return Response{200, "late", {}, 1200}; });
  auto probe = make_probe(http_spec(server.url("/"), {}, Duration{150}));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  Observation async = start_probe(*probe, clock);
  EXPECT_EQ(async.outcome, Outcome::Error) << async.detail;
  EXPECT_NE(async.detail.find("timeout after 150 ms"), std::string::npos) << async.detail;
  expect_same(async, probe->run(clock));
}

TEST(AsyncHttpProbeErrors, NeedleBeyondTheCapIsErrorAsInRun) {
  HttpServer server([](const Request&) { return Response{200, std::string(3 << 20, 'x') + "ready"}; });
  HttpExpect ex;
  ex.body_contains = {"ready"};
  auto probe = make_probe(http_spec(server.url("/"), ex));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  Observation async = start_probe(*probe, clock);
  EXPECT_EQ(async.outcome, Outcome::Error) << async.detail;
  expect_same(async, probe->run(clock));
}

// keepalive = true: the probe's runs share one connection; by default each connects.
int connections_for(bool keepalive) {
  KeepAliveServer server([](const Request&) { return Response{200, "ok"}; });
  ProbeSpec spec = http_spec(server.url("/"));
  spec.kind.edit<HttpProbeSpec>()->keepalive = keepalive;
  auto probe = make_probe(spec);
  Loop l;
  SystemClock clock;
  int passed = 0;
  std::function<void(int)> again = [&](int left) {
    if (left == 0) return;
    probe->start(l.io, clock, [&, left](Observation o) {
      if (o.outcome == Outcome::Passed) ++passed;
      again(left - 1);
    });
  };
  again(4);
  l.loop.run();
  EXPECT_EQ(passed, 4);
  return server.accepted();
}

TEST(AsyncHttpProbeKeepalive, KeptConnectionIsReused) { EXPECT_EQ(connections_for(true), 1); }
TEST(AsyncHttpProbeKeepalive, ByDefaultEveryRunConnects) { EXPECT_EQ(connections_for(false), 4); }

// ---- tcp -------------------------------------------------------------------------

ProbeSpec tcp_spec(std::string host, int port, Duration timeout = Duration{2000}) {
  return ProbeSpec{.name = "tcp-check", .type = "tcp", .timeout = timeout,
                   .kind = TcpProbeSpec{.host = std::move(host), .port = port}};
}

TEST(AsyncTcpProbe, OpenPortPassesAsInRun) {
  HttpServer listening([](const Request&) { return Response{}; });
  int port = std::stoi(listening.url("").substr(std::string("http://127.0.0.1:").size()));
  for (const char* host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    auto probe = make_probe(tcp_spec(host, port));
    ASSERT_NE(probe, nullptr);
    SystemClock clock;
    Observation async = start_probe(*probe, clock);
    EXPECT_EQ(async.outcome, Outcome::Passed) << async.detail;
    EXPECT_NE(async.detail.find(std::to_string(port)), std::string::npos) << async.detail;
    expect_same(async, probe->run(clock));
  }
}

TEST(AsyncTcpProbe, ClosedPortFailsAsInRun) {
  int port = closed_port();
  auto probe = make_probe(tcp_spec("127.0.0.1", port, Duration{60'000}));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  auto started = std::chrono::steady_clock::now();
  Observation async = start_probe(*probe, clock);
  EXPECT_LT(seconds_since(started), 30.0);  // refused at once, not the timeout
  EXPECT_EQ(async.outcome, Outcome::Failed) << async.detail;
  EXPECT_NE(async.detail.find("refused"), std::string::npos) << async.detail;
  expect_same(async, probe->run(clock));
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a
// connect neither succeeds nor is refused until the client gives up.
class FullListener {
 public:
  FullListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int& c : fill_) {  // never accepted
      c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the handshakes land
  }
  ~FullListener() {
    for (int c : fill_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
  int fill_[2] = {-1, -1};
};

TEST(AsyncTcpProbe, ConnectTimeoutFailsAsInRun) {
  FullListener full;
  auto probe = make_probe(tcp_spec("127.0.0.1", full.port(), Duration{300}));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  auto started = std::chrono::steady_clock::now();
  Observation async = start_probe(*probe, clock);
  EXPECT_LT(seconds_since(started), 5.0);
  EXPECT_EQ(async.outcome, Outcome::Failed) << async.detail;
  EXPECT_NE(async.detail.find("timeout after 300 ms"), std::string::npos) << async.detail;
  expect_same(async, probe->run(clock));
}

TEST(AsyncTcpProbe, UnresolvableHostIsErrorAsInRun) {
  auto probe = make_probe(tcp_spec("no-such-host.invalid", 80));
  ASSERT_NE(probe, nullptr);
  SystemClock clock;
  Observation async = start_probe(*probe, clock);
  EXPECT_EQ(async.outcome, Outcome::Error) << async.detail;
  EXPECT_NE(async.detail.find("no-such-host.invalid"), std::string::npos) << async.detail;
  EXPECT_EQ(probe->run(clock).outcome, Outcome::Error);  // resolver wording differs (asio vs gai_strerror)
}

// ---- metric sources --------------------------------------------------------------

std::unique_ptr<MetricSource> make_source(const MetricSourceSpec& spec) {
  MetricSourceRegistry registry;
  register_builtin_metric_sources(registry);
  auto source = registry.make(spec);
  if (!source) {
    ADD_FAILURE() << source.error().message;
    return nullptr;
  }
  return std::move(*source);
}

std::string dump(const MetricReading& r) {
  std::string out = std::string(to_string(r.status)) + " [" + r.detail + "]";
  for (const auto& s : r.series) out += " " + labels_key(s.labels) + "=" + std::to_string(s.value);
  return out;
}

TEST(AsyncPrometheusSource, SameReadingAsRead) {
  std::string answer = slurp(std::string(DG_TEST_DATA_DIR "/prometheus/vector_two_series.json"));
  ASSERT_FALSE(answer.empty());
  HttpServer server([&](const Request& q) {
    if (q.target.rfind("/api/v1/query?query=", 0) != 0) return Response{404, "no"};
    return Response{200, answer, {{"Content-Type", "application/json"}}};
  });
  auto source = make_source(MetricSourceSpec{
      .name = "prom", .type = "prometheus",
      .kind = PrometheusSourceSpec{.url = server.url(""), .timeout = Duration{3000}}});
  ASSERT_NE(source, nullptr);
  MetricQuery q;
  q.promql = "sum by (code) (rate(http_requests_total[1m]))";
  FakeClock clock;
  Loop l;
  std::optional<MetricReading> async;
  source->start_read(l.io, q, clock, std::nullopt, [&](MetricReading r) { async = std::move(r); });
  EXPECT_FALSE(async);
  l.loop.run();
  ASSERT_TRUE(async);
  MetricReading blocking = source->read(q, clock);
  EXPECT_EQ(async->status, ReadingStatus::Ok) << dump(*async);
  EXPECT_EQ(async->series.size(), 2u) << dump(*async);
  EXPECT_EQ(dump(*async), dump(blocking));
  EXPECT_EQ(async->query, q.promql);
  EXPECT_EQ(async->at, clock.now());
}

TEST(AsyncPrometheusSource, UnreachableIsAnError) {
  auto source = make_source(MetricSourceSpec{
      .name = "prom", .type = "prometheus",
      .kind = PrometheusSourceSpec{.url = "http://127.0.0.1:" + std::to_string(closed_port())}});
  ASSERT_NE(source, nullptr);
  MetricQuery q;
  q.promql = "up";
  FakeClock clock;
  Loop l;
  std::optional<MetricReading> async;
  source->start_read(l.io, q, clock, std::nullopt, [&](MetricReading r) { async = std::move(r); });
  l.loop.run();
  ASSERT_TRUE(async);
  EXPECT_EQ(async->status, ReadingStatus::Error);
  EXPECT_EQ(dump(*async), dump(source->read(q, clock)));
}

const std::string kExposition =
    "# TYPE http_requests_total counter\n"
    "http_requests_total{code=\"200\"} 40\n"
    "http_requests_total{code=\"503\"} 3\n"
    "# TYPE queue_depth gauge\n"
    "queue_depth 7\n";

MetricQuery scrape_query(std::string metric) {
  MetricQuery q;
  q.scrape.metric = std::move(metric);
  return q;
}

std::unique_ptr<MetricSource> scrape_source(const std::string& url) {
  return make_source(MetricSourceSpec{
      .name = "svc", .type = "scrape", .kind = ScrapeSourceSpec{.url = url, .timeout = Duration{3000}}});
}

TEST(AsyncScrapeSource, ReadsOfOneLookShareOneScrape) {
  HttpServer server([&](const Request&) { return Response{200, kExposition, {{"Content-Type", "text/plain; version=0.0.4"}}}; });
  auto source = scrape_source(server.url("/metrics"));
  ASSERT_NE(source, nullptr);
  MetricQuery requests = scrape_query("http_requests_total"), depth = scrape_query("queue_depth");
  FakeClock clock;
  Loop l;
  std::optional<MetricReading> a, b;
  source->start_read(l.io, requests, clock, std::nullopt, [&](MetricReading r) { a = std::move(r); });
  source->start_read(l.io, depth, clock, std::nullopt, [&](MetricReading r) { b = std::move(r); });
  EXPECT_FALSE(a || b);
  l.loop.run();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(dump(*a), "ok [] {}=43.000000");
  EXPECT_EQ(dump(*b), "ok [] {}=7.000000");
  EXPECT_EQ(server.requests().size(), 1u);  // one fetch served both

  // Within the share window (fake time has not moved): served from that scrape, still not inline.
  std::optional<MetricReading> c;
  source->start_read(l.io, requests, clock, std::nullopt, [&](MetricReading r) { c = std::move(r); });
  EXPECT_FALSE(c);
  l.loop.restart();
  l.loop.run();
  ASSERT_TRUE(c);
  EXPECT_EQ(dump(*c), dump(*a));
  EXPECT_EQ(server.requests().size(), 1u);

  // A later look scrapes again, and reads what the blocking read says.
  clock.advance(Duration{1000});
  std::optional<MetricReading> d;
  source->start_read(l.io, depth, clock, std::nullopt, [&](MetricReading r) { d = std::move(r); });
  l.loop.restart();
  l.loop.run();
  ASSERT_TRUE(d);
  EXPECT_EQ(server.requests().size(), 2u);
  clock.advance(Duration{1000});
  EXPECT_EQ(dump(*d), dump(source->read(depth, clock)));
}

TEST(AsyncScrapeSource, HttpErrorIsAnErrorReading) {
  HttpServer server([&](const Request&) { return Response{500, "boom"}; });
  auto source = scrape_source(server.url("/metrics"));
  ASSERT_NE(source, nullptr);
  MetricQuery q = scrape_query("queue_depth");
  FakeClock clock;
  Loop l;
  std::optional<MetricReading> r;
  source->start_read(l.io, q, clock, std::nullopt, [&](MetricReading x) { r = std::move(x); });
  l.loop.run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReadingStatus::Error);
  EXPECT_NE(r->detail.find("HTTP 500"), std::string::npos) << r->detail;
}

}  // namespace
}  // namespace dg::test
