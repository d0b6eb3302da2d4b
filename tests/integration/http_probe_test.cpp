// HTTP probe against the loopback test server: every expectation kind, the
// request as sent, and the Failed / Error split for transport problems.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "agent/core/clock.h"
#include "probes/http_probe.h"
#include "probes/probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"

namespace dg::test {
namespace {

using namespace std::chrono_literals;

ProbeSpec http_spec(const std::string& url, HttpExpect expect = {}, Duration timeout = Duration{2000}) {
  HttpProbeSpec http;
  http.url = url;
  http.expect = std::move(expect);
  return ProbeSpec{.name = "http-check", .type = "http", .timeout = timeout, .kind = std::move(http)};
}

Observation run_probe(const ProbeSpec& spec) {
  SystemClock clock;
  auto probe = make_probe(spec);
  if (!probe) return Observation{.detail = "no probe"};
  return probe->run(clock);
}

HttpServer::Handler reply(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {},
                          int delay_ms = 0) {
  return [=](const Request&) { return Response{status, body, headers, delay_ms}; };
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(HttpProbe, PassesOn200WithBodyContains) {
  HttpServer server(reply(200, R"({"status":"ok","version":"1.2.3"})"));
  HttpExpect ex;
  ex.body_contains = {"\"status\":\"ok\"", "1.2.3"};
  auto spec = http_spec(server.url("/healthz"), ex);
  auto before = std::chrono::system_clock::now();
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  EXPECT_EQ(obs.signal, "http-check");
  EXPECT_GE(obs.at, before - 1s);
  EXPECT_LE(obs.at, std::chrono::system_clock::now());
  EXPECT_TRUE(contains(obs.detail, "status 200")) << obs.detail;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  EXPECT_EQ(server.requests()[0].target, "/healthz");
}

TEST(HttpProbe, BuiltWithMakeHttpProbeDirectlyAlsoWorks) {
  HttpServer server(reply(200, "hello"));
  SystemClock clock;
  auto probe = make_http_probe(http_spec(server.url("/")));
  ASSERT_NE(probe, nullptr);
  EXPECT_EQ(probe->run(clock).outcome, Outcome::Passed);
}

TEST(HttpProbe, DefaultStatusRangeRejects503) {
  HttpServer server(reply(503, "overloaded"));
  Observation obs = run_probe(http_spec(server.url("/")));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "status 503 (expected 200-299)")) << obs.detail;
  EXPECT_EQ(obs.excerpt, "overloaded");
}

TEST(HttpProbe, StatusListRejectsStatusNotListed) {
  HttpServer server(reply(201, "created"));
  HttpExpect ex;
  ex.status = {{200, 200}, {204, 204}};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "status 201 (expected 200, 204)")) << obs.detail;
}

TEST(HttpProbe, StatusListAcceptsAnyListedStatus) {
  HttpServer server(reply(204, ""));
  HttpExpect ex;
  ex.status = {{200, 200}, {204, 204}};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
}

TEST(HttpProbe, StatusRangeBoundsAreInclusive) {
  HttpExpect ex;
  ex.status = {{400, 404}};
  {
    HttpServer server(reply(404, "gone"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  }
  {
    HttpServer server(reply(405, "nope"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
    EXPECT_TRUE(contains(obs.detail, "status 405 (expected 400-404)")) << obs.detail;
  }
  {
    HttpServer server(reply(200, "ok"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  }
}

TEST(HttpProbe, BodyContainsMissingNamesNeedleWithBoundedExcerpt) {
  std::string big(100 * 1024, 'x');
  big.replace(0, 15, "<html><body>oop");
  HttpServer server(reply(200, big));
  HttpExpect ex;
  ex.body_contains = {"Welcome back"};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "\"Welcome back\"")) << obs.detail;
  EXPECT_FALSE(obs.excerpt.empty());
  EXPECT_LE(obs.excerpt.size(), 250u);
  EXPECT_TRUE(obs.excerpt.starts_with("<html><body>oop")) << obs.excerpt;
  EXPECT_LE(obs.detail.size(), 1000u);  // the body never leaks into the detail
}

TEST(HttpProbe, ExcerptOfBinaryBodyIsEscapedAndBounded) {
  std::string binary;
  for (int i = 0; i < 100 * 1024; ++i) binary += static_cast<char>(i % 32);  // all control bytes
  HttpServer server(reply(200, binary));
  HttpExpect ex;
  ex.body_contains = {"ready"};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  ASSERT_FALSE(obs.excerpt.empty());
  for (unsigned char c : obs.excerpt) EXPECT_GE(c, 0x20) << "raw control byte in excerpt";
  // Each control byte is escaped as \xNN (4 bytes); the cut is on input bytes,
  // so the output is bounded at about 4 x 240.
  EXPECT_LE(obs.excerpt.size(), 1000u);
}

TEST(HttpProbe, BodyNotContainsPresentFailsWithOffsetAndExcerptAroundIt) {
  std::string body = std::string(5000, '.') + "FATAL: database unavailable" + std::string(5000, '.');
  HttpServer server(reply(200, body));
  HttpExpect ex;
  ex.body_not_contains = {"FATAL"};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "body contains \"FATAL\" at offset 5000")) << obs.detail;
  EXPECT_TRUE(contains(obs.excerpt, "FATAL: database unavailable")) << obs.excerpt;
  EXPECT_LE(obs.excerpt.size(), 250u);
}

TEST(HttpProbe, BodyNotContainsAbsentPasses) {
  HttpServer server(reply(200, "all good"));
  HttpExpect ex;
  ex.body_not_contains = {"FATAL"};
  EXPECT_EQ(run_probe(http_spec(server.url("/"), ex)).outcome, Outcome::Passed);
}

TEST(HttpProbe, BodyRegex) {
  HttpExpect ex;
  ex.body_regex_text = R"("version":\s*"\d+\.\d+\.\d+")";
  ex.body_regex = *Regex::compile(ex.body_regex_text);
  {
    HttpServer server(reply(200, R"({"version": "2.10.0"})"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  }
  {
    HttpServer server(reply(200, R"({"version": "unknown"})"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
    EXPECT_TRUE(contains(obs.detail, "does not match /" + ex.body_regex_text + "/")) << obs.detail;
    EXPECT_TRUE(contains(obs.excerpt, "unknown")) << obs.excerpt;
  }
}

TEST(HttpProbe, HeaderPresent) {
  HttpExpect ex;
  ex.headers_present = {"x-request-id"};
  {
    HttpServer server(reply(200, "ok", {{"X-Request-Id", "abc"}}));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  }
  {
    HttpServer server(reply(200, "ok", {{"X-Other", "abc"}}));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
    EXPECT_TRUE(contains(obs.detail, "header \"x-request-id\" missing")) << obs.detail;
  }
}

TEST(HttpProbe, HeaderEquals) {
  HttpExpect ex;
  ex.headers_equal = {{"x-release", "v42"}};
  {
    HttpServer server(reply(200, "ok", {{"X-Release", "v42"}}));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  }
  {
    HttpServer server(reply(200, "ok", {{"X-Release", "v41"}}));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
    EXPECT_TRUE(contains(obs.detail, "header \"x-release\" is \"v41\" (expected \"v42\")")) << obs.detail;
  }
  {
    HttpServer server(reply(200, "ok"));
    Observation obs = run_probe(http_spec(server.url("/"), ex));
    EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
    EXPECT_TRUE(contains(obs.detail, "header \"x-release\" missing")) << obs.detail;
  }
}

class HttpProbeJson : public ::testing::Test {
 protected:
  static HttpExpect expect() {
    HttpExpect ex;
    ex.json_equals = {{"/status", "\"ok\""}, {"/checks/db/healthy", "true"}, {"/replicas", "3"}};
    return ex;
  }
};

TEST_F(HttpProbeJson, Match) {
  HttpServer server(reply(200, R"({"status":"ok","checks":{"db":{"healthy":true}},"replicas":3,"extra":[1]})"));
  Observation obs = run_probe(http_spec(server.url("/"), expect()));
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
}

TEST_F(HttpProbeJson, Mismatch) {
  HttpServer server(reply(200, R"({"status":"degraded","checks":{"db":{"healthy":false}},"replicas":3})"));
  Observation obs = run_probe(http_spec(server.url("/"), expect()));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "JSON /status is \"degraded\" (expected \"ok\")")) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "JSON /checks/db/healthy is false (expected true)")) << obs.detail;
  EXPECT_FALSE(contains(obs.detail, "/replicas")) << obs.detail;
}

TEST_F(HttpProbeJson, TypeMatters) {
  // "3" (a string) is not 3 (a number).
  HttpServer server(reply(200, R"({"status":"ok","checks":{"db":{"healthy":true}},"replicas":"3"})"));
  Observation obs = run_probe(http_spec(server.url("/"), expect()));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "JSON /replicas is \"3\" (expected 3)")) << obs.detail;
}

TEST_F(HttpProbeJson, MissingPointer) {
  HttpServer server(reply(200, R"({"status":"ok","replicas":3})"));
  Observation obs = run_probe(http_spec(server.url("/"), expect()));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "JSON /checks/db/healthy is missing (expected true)")) << obs.detail;
}

TEST_F(HttpProbeJson, NonJsonBody) {
  HttpServer server(reply(200, "<html>502 Bad Gateway</html>"));
  Observation obs = run_probe(http_spec(server.url("/"), expect()));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "body is not JSON")) << obs.detail;
  EXPECT_TRUE(contains(obs.excerpt, "502 Bad Gateway")) << obs.excerpt;
}

TEST(HttpProbe, MaxLatencyExceededFails) {
  HttpServer server(reply(200, "slow but fine", {}, 300));
  HttpExpect ex;
  ex.max_latency = Duration{100};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "above max_latency")) << obs.detail;
  EXPECT_GE(obs.latency.count(), 290);
}

TEST(HttpProbe, MaxLatencyWithinLimitPasses) {
  HttpServer server(reply(200, "fast"));
  HttpExpect ex;
  ex.max_latency = Duration{1500};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  EXPECT_LT(obs.latency.count(), 1500);
}

TEST(HttpProbe, RequestCarriesMethodHeadersAndBody) {
  HttpServer server(reply(200, "ok"));
  HttpProbeSpec http;
  http.method = "POST";
  http.url = server.url("/api/check?deep=1");
  http.headers = {{"Authorization", "Bearer s3cr3t-token"}, {"X-Probe", "deployguard"},
                  {"Content-Type", "application/json"}};
  http.body = R"({"ping":true})";
  ProbeSpec spec{.name = "post-check", .type = "http", .timeout = Duration{2000}, .kind = http};
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/api/check?deep=1");
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer s3cr3t-token");
  EXPECT_EQ(reqs[0].header("X-Probe"), "deployguard");
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].header("Expect"), "");  // no 100-continue stall
  EXPECT_EQ(reqs[0].body, R"({"ping":true})");
}

TEST(HttpProbe, CustomMethodWithoutBody) {
  HttpServer server(reply(200, "ok"));
  HttpProbeSpec http;
  http.method = "DELETE";
  http.url = server.url("/session");
  Observation obs = run_probe(ProbeSpec{.name = "d", .type = "http", .timeout = Duration{2000}, .kind = http});
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].body, "");
}

TEST(HttpProbe, ServerSlowerThanTimeoutIsErrorNotFailed) {
  HttpServer server(reply(200, "too late", {}, 1000));
  auto started = std::chrono::steady_clock::now();
  Observation obs = run_probe(http_spec(server.url("/slow"), {}, Duration{200}));
  double took = seconds_since(started);
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "timeout")) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, server.url("/slow"))) << obs.detail;
  // Had it waited for the server it would have passed (status 200): the
  // outcome says it gave up at its timeout. Real time only bounds it loosely.
  EXPECT_GE(took, 0.15);
}

TEST(HttpProbe, ClosedPortIsErrorNotFailed) {
  int port = closed_port();
  auto started = std::chrono::steady_clock::now();
  Observation obs = run_probe(http_spec("http://127.0.0.1:" + std::to_string(port) + "/healthz", {}, Duration{60'000}));
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_FALSE(obs.detail.empty());
  EXPECT_TRUE(contains(obs.detail, std::to_string(port))) << obs.detail;
  EXPECT_LT(seconds_since(started), 30.0) << "a refusal is immediate, not the 60 s timeout";
}

TEST(HttpProbe, SeveralFailuresAreAllReported) {
  HttpServer server(reply(500, "boom"));
  HttpExpect ex;
  ex.body_contains = {"ok"};
  ex.headers_present = {"x-ready"};
  Observation obs = run_probe(http_spec(server.url("/"), ex));
  EXPECT_EQ(obs.outcome, Outcome::Failed);
  EXPECT_TRUE(contains(obs.detail, "status 500")) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "\"ok\"")) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "x-ready")) << obs.detail;
}

}  // namespace
}  // namespace dg::test
