// The body cap: the client stops at it (a truncated response, not an error),
// and a probe whose expectation could not be checked because of the cap says
// `error`, never `failed`.
#include <gtest/gtest.h>

#include "agent/core/http_client.h"
#include "probes/http_probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"

namespace dg::test {
namespace {

TEST(HttpCap, TransferStopsAtTheCapAndIsATruncatedResponse) {
  HttpServer server([](const Request&) { return Response{200, std::string(8 << 20, 'x')}; });
  HttpRequest req;
  req.url = server.url("/big");
  req.max_body = 64 * 1024;
  auto r = http_perform(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body_truncated);
  EXPECT_EQ(r->body.size(), 64u * 1024);
}

TEST(HttpCap, BodyExactlyAtTheCapIsNotTruncated) {
  HttpServer server([](const Request&) { return Response{200, std::string(4096, 'x')}; });
  HttpRequest req;
  req.url = server.url("/");
  req.max_body = 4096;
  auto r = http_perform(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->body_truncated);
  EXPECT_EQ(r->body.size(), 4096u);
}

ProbeSpec probe_on(const std::string& url, HttpExpect ex) {
  HttpProbeSpec h;
  h.url = url;
  h.expect = std::move(ex);
  return ProbeSpec{.name = "big", .type = "http", .timeout = Duration{5000}, .kind = h};
}

TEST(HttpCap, NeedleBeyondTheCapIsErrorNotFailed) {
  // The page is fine: the needle sits after the first MiB we read.
  HttpServer server([](const Request&) { return Response{200, std::string(3 << 20, 'x') + "ready"}; });
  HttpExpect ex;
  ex.body_contains = {"ready"};
  SystemClock clock;
  Observation o = make_probe(probe_on(server.url("/"), ex))->run(clock);
  EXPECT_EQ(o.outcome, Outcome::Error) << o.detail;
  EXPECT_NE(o.detail.find("read limit"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("\"ready\""), std::string::npos) << o.detail;
}

TEST(HttpCap, DefinitiveFailuresStillFailOnATruncatedBody) {
  HttpServer server([](const Request&) { return Response{500, std::string(3 << 20, 'x')}; });
  HttpExpect ex;
  ex.body_contains = {"ready"};
  SystemClock clock;
  Observation o = make_probe(probe_on(server.url("/"), ex))->run(clock);
  EXPECT_EQ(o.outcome, Outcome::Failed) << o.detail;
  EXPECT_NE(o.detail.find("status 500"), std::string::npos) << o.detail;
}

TEST(HttpCap, NeedleFoundWithinTheCapPasses) {
  HttpServer server([](const Request&) { return Response{200, "ready" + std::string(3 << 20, 'x')}; });
  HttpExpect ex;
  ex.body_contains = {"ready"};
  SystemClock clock;
  Observation o = make_probe(probe_on(server.url("/"), ex))->run(clock);
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
}

}  // namespace
}  // namespace dg::test
