// The http rollback and the read-back check every rollback type can have,
// against local servers: run() and start() judge alike, the answer is
// journaled redacted and bounded, the check retries until its deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>

#include "agent/core/async_http.h"
#include "agent/core/secrets.h"
#include "agent/rollback/command_rollback.h"
#include "agent/rollback/http_rollback.h"
#include "agent/rollback/rollback_action.h"
#include "tests/support/http_server.h"

namespace dg {
namespace {

struct Loop {
  boost::asio::io_context loop;
  AsyncHttp http{loop};
  AsyncIo io{loop, http};
};

Result<RollbackOutcome> start_and_wait(RollbackAction& a) {
  Loop l;
  std::optional<Result<RollbackOutcome>> got;
  a.start(l.io, [&](Result<RollbackOutcome> r) { got = std::move(r); });
  l.loop.run();
  EXPECT_TRUE(got.has_value());
  return got ? std::move(*got) : std::unexpected(Error{"no callback"});
}

std::unique_ptr<RollbackAction> make(const RollbackSpec& spec) {
  auto a = builtin_rollbacks().make(spec);
  EXPECT_TRUE(a.has_value()) << (a ? "" : a.error().message);
  return std::move(*a);
}

RollbackSpec http_spec(const std::string& url, std::vector<int> expect = {}) {
  HttpRollbackSpec h;
  h.url = url;
  h.headers = {{"Authorization", "Bearer deploy-api-secret-token"}};
  h.body = R"({"service": "wiki", "to": "previous"})";
  h.expect_status = std::move(expect);
  return RollbackSpec{.name = "api", .type = "http", .timeout = Duration{2000}, .kind = h};
}

TEST(HttpRollback, SendsTheRequestAndJournalsTheAnswerRedacted) {
  secrets::add("Bearer deploy-api-secret-token");
  secrets::add("deploy-api-secret-token");
  test::HttpServer srv([](const test::Request&) {
    return test::Response{202, R"({"rollout": "started", "echo": "deploy-api-secret-token"})"};
  });
  auto a = make(http_spec(srv.url("/api/rollback"), {202}));
  for (int form = 0; form < 2; ++form) {
    SCOPED_TRACE(form == 0 ? "run" : "start");
    auto r = form == 0 ? a->run() : start_and_wait(*a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->ok);
    EXPECT_EQ(r->exit_code, 202);
    EXPECT_NE(r->output.find("started"), std::string::npos) << r->output;
    EXPECT_EQ(r->output.find("deploy-api-secret-token"), std::string::npos) << r->output;
    EXPECT_FALSE(r->check.has_value());
  }
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/api/rollback");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer deploy-api-secret-token");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].body, R"({"service": "wiki", "to": "previous"})");
}

TEST(HttpRollback, AnUnexpectedStatusOrNoAnswerFails) {
  test::HttpServer srv([](const test::Request&) { return test::Response{409, std::string(10'000, 'x')}; });
  auto a = make(http_spec(srv.url("/rollback")));
  for (int form = 0; form < 2; ++form) {
    auto r = form == 0 ? a->run() : start_and_wait(*a);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->exit_code, 409);
    EXPECT_NE(r->detail.find("expected 2xx"), std::string::npos) << r->detail;
    EXPECT_LT(r->output.size(), 2100u);  // bounded
  }
  test::HttpServer slow([](const test::Request&) { return test::Response{200, "late", {}, 1500}; });
  RollbackSpec s = http_spec(slow.url("/rollback"));
  s.timeout = Duration{300};
  auto t = make(s);
  for (int form = 0; form < 2; ++form) {
    auto r = form == 0 ? t->run() : start_and_wait(*t);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok);
    EXPECT_TRUE(r->timed_out) << r->detail;
  }
}

TEST(RollbackCheck, RetriesUntilThePreviousReleaseServes) {
  std::atomic<int> version_reads{0};
  test::HttpServer srv([&](const test::Request& req) {
    if (req.target == "/version") return test::Response{200, ++version_reads >= 3 ? "release 1" : "release 2"};
    return test::Response{200, "ok"};
  });
  for (int form = 0; form < 2; ++form) {
    SCOPED_TRACE(form == 0 ? "run" : "start");
    version_reads = 0;
    RollbackSpec s = http_spec(srv.url("/rollback"));
    s.check = RollbackCheckSpec{};
    s.check->request.url = srv.url("/version");
    s.check->body_contains = {"release 1"};
    s.check->within = Duration{10'000};
    s.check->interval = Duration{50};
    auto a = make(s);
    auto r = form == 0 ? a->run() : start_and_wait(*a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->ok) << r->detail;
    ASSERT_TRUE(r->check.has_value());
    EXPECT_TRUE(r->check->ok);
    EXPECT_EQ(r->check->attempts, 3);
    EXPECT_NE(r->output.find("check passed after 3 attempts"), std::string::npos) << r->output;
  }
}

TEST(RollbackCheck, FailsAtItsDeadlineAndFailsTheRollback) {
  test::HttpServer srv([](const test::Request&) { return test::Response{503, "still release 2"}; });
  // A command rollback: the check belongs to every type.
  CommandRollbackSpec c;
  c.argv = {"true"};
  RollbackSpec s{.name = "cmd", .type = "command", .timeout = Duration{5000}, .kind = c};
  s.check = RollbackCheckSpec{};
  s.check->request.url = srv.url("/version");
  s.check->within = Duration{400};
  s.check->interval = Duration{100};
  auto a = make(s);
  for (int form = 0; form < 2; ++form) {
    auto r = form == 0 ? a->run() : start_and_wait(*a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->exit_code, 0);  // the command itself succeeded
    ASSERT_TRUE(r->check.has_value());
    EXPECT_FALSE(r->check->ok);
    EXPECT_GE(r->check->attempts, 2);
    EXPECT_EQ(r->check->last_status, 503);
    EXPECT_NE(r->detail.find("check failed"), std::string::npos) << r->detail;
  }
}

TEST(RollbackCheck, NotRunAfterAFailedAction) {
  std::atomic<int> checks{0};
  test::HttpServer srv([&](const test::Request&) {
    ++checks;
    return test::Response{200, "ok"};
  });
  CommandRollbackSpec c;
  c.argv = {"false"};
  RollbackSpec s{.name = "cmd", .type = "command", .kind = c};
  s.check = RollbackCheckSpec{};
  s.check->request.url = srv.url("/version");
  auto r = make(s)->run();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(r->check.has_value());
  EXPECT_EQ(checks.load(), 0);
}

}  // namespace
}  // namespace dg
