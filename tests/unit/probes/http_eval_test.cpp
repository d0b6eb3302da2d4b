// Pure evaluation of HTTP exchanges against expectations: no sockets here
// (the integration suite runs the same probes against a real server).
#include <gtest/gtest.h>

#include "probes/http_probe.h"

namespace dg {
namespace {

ProbeSpec spec(HttpExpect ex) {
  HttpProbeSpec h;
  h.url = "http://127.0.0.1:1/edit";
  h.expect = std::move(ex);
  return ProbeSpec{.name = "editor", .type = "http", .kind = h};
}

HttpResponse resp(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.elapsed = Duration{12};
  return r;
}

TEST(HttpEval, PassesWhenEveryExpectationHolds) {
  HttpExpect ex;
  ex.body_contains = {"editor-bootstrap.js"};
  ex.headers_equal = {{"content-type", "text/html"}};
  ex.json_equals = {};
  Observation o = evaluate_http(spec(ex), resp(200, "<script src=editor-bootstrap.js>", {{"content-type", "text/html"}}), {});
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_EQ(o.latency, Duration{12});
}

TEST(HttpEval, SaysWhichExpectationFailedWithABoundedExcerpt) {
  HttpExpect ex;
  ex.body_contains = {"editor-bootstrap.js"};
  Observation o = evaluate_http(spec(ex), resp(200, std::string(50'000, 'a')), {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_EQ(o.detail, "body does not contain \"editor-bootstrap.js\"");
  EXPECT_FALSE(o.excerpt.empty());
  EXPECT_LE(o.excerpt.size(), 260u);
}

TEST(HttpEval, StatusListsAndRanges) {
  HttpExpect ex;
  ex.status = {{200, 200}, {300, 399}};
  EXPECT_EQ(evaluate_http(spec(ex), resp(302, ""), {}).outcome, Outcome::Passed);
  Observation o = evaluate_http(spec(ex), resp(500, "oops"), {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_EQ(o.detail, "status 500 (expected 200, 300-399)");
}

TEST(HttpEval, NotContainsShowsWhereItWasFound) {
  HttpExpect ex;
  ex.body_not_contains = {"Traceback"};
  Observation o = evaluate_http(spec(ex), resp(200, std::string(1000, '.') + "Traceback (most recent call last)"), {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.excerpt.find("Traceback"), std::string::npos);
}

TEST(HttpEval, RegexHeadersJsonAndLatency) {
  HttpExpect ex;
  ex.body_regex_text = "ready=[0-9]+";
  ex.body_regex = *Regex::compile(ex.body_regex_text);
  ex.headers_present = {"etag"};
  ex.json_equals = {{"/editor/ready", "true"}, {"/count", "3"}};
  ex.max_latency = Duration{10};
  Observation o = evaluate_http(spec(ex), resp(200, R"({"editor":{"ready":false},"count":3})"), {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("latency 12 ms above max_latency 10ms"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("header \"etag\" missing"), std::string::npos);
  EXPECT_NE(o.detail.find("does not match /ready=[0-9]+/"), std::string::npos);
  EXPECT_NE(o.detail.find("JSON /editor/ready is false (expected true)"), std::string::npos);
  EXPECT_EQ(o.detail.find("/count"), std::string::npos) << "matching pointers are not reported";
}

TEST(HttpEval, NonJsonBodyFailsAJsonExpectation) {
  HttpExpect ex;
  ex.json_equals = {{"/ok", "true"}};
  Observation o = evaluate_http(spec(ex), resp(200, "<html>proxy error</html>"), {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("not JSON"), std::string::npos);
}

TEST(HttpEval, TransportFailureIsAnErrorNotAFailure) {
  Observation o = evaluate_http(spec({}), Result<HttpResponse>(fail("Connection refused")), {});
  EXPECT_EQ(o.outcome, Outcome::Error);
  EXPECT_NE(o.detail.find("Connection refused"), std::string::npos);
}

}  // namespace
}  // namespace dg

namespace dg {
namespace {

// Per-phase timings from libcurl: journaled with every observation, and
// usable as expectations.
TEST(HttpEval, PhaseTimingsAreJournaledAndBounded) {
  HttpResponse r = resp(200, "ok");
  r.phases = {.dns = std::chrono::microseconds(1'000), .connect = std::chrono::microseconds(30'000),
              .first_byte = std::chrono::microseconds(200'000), .transfer = std::chrono::microseconds(500),
              .to_first_byte = std::chrono::microseconds(231'000)};
  HttpExpect ok;
  ok.max_connect = Duration{50};
  ok.max_first_byte = Duration{300};
  Observation o = evaluate_http(spec(ok), r, {});
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  ASSERT_EQ(o.phases_ms.size(), 5u);
  EXPECT_EQ(o.phases_ms[1].first, "connect");
  EXPECT_DOUBLE_EQ(o.phases_ms[1].second, 30.0);
  HttpExpect tight;
  tight.max_connect = Duration{10};
  tight.max_first_byte = Duration{100};
  o = evaluate_http(spec(tight), r, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("connect took 30.0 ms (max_connect 10ms)"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("first byte after 231.0 ms (max_first_byte 100ms)"), std::string::npos) << o.detail;
}

}  // namespace
}  // namespace dg
