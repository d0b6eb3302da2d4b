// AsyncHttp over real loopback sockets, with one thread running the loop:
// exchanges overlap, errors and caps match the blocking client, a connection
// is new per exchange unless kept, and destroying it mid-flight calls nothing.
#include "agent/core/async_http.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"
#include "tests/support/keepalive_server.h"

namespace dg::test {
namespace {

using namespace std::chrono_literals;

HttpRequest get(const std::string& url, Duration timeout = Duration{5000}) {
  HttpRequest req;
  req.url = url;
  req.timeout = timeout;
  return req;
}

// Runs one exchange to the end on a loop of its own.
Result<HttpResponse> exchange(HttpRequest req) {
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  std::optional<Result<HttpResponse>> out;
  http.perform(std::move(req), [&](Result<HttpResponse> r) { out = std::move(r); });
  loop.run();
  if (!out) return fail("callback not called");
  return std::move(*out);
}

TEST(AsyncHttp, SlowExchangesOverlapOnOneThread) {
  HttpServer server([](const Request&) { return Response{200, "slow", {}, 300}; });
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  constexpr int kN = 20;
  int ok = 0, called = 0;
  std::thread::id loop_thread = std::this_thread::get_id();
  bool other_thread = false;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i)
    http.perform(get(server.url("/slow")), [&](Result<HttpResponse> r) {
      ++called;
      other_thread = other_thread || std::this_thread::get_id() != loop_thread;
      if (r && r->status == 200 && r->body == "slow") ++ok;
    });
  EXPECT_EQ(http.in_flight(), size_t{kN});
  loop.run();
  double took = seconds_since(started);
  EXPECT_EQ(called, kN);
  EXPECT_EQ(ok, kN);
  EXPECT_FALSE(other_thread);
  EXPECT_EQ(http.in_flight(), 0u);
  // One after the other would take 6 s; together about 0.3 s.
  EXPECT_LT(took, 3.0);
}

TEST(AsyncHttp, CallbackIsNeverCalledInsidePerform) {
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  int called = 0;
  http.perform(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"), [&](Result<HttpResponse>) { ++called; });
  http.perform(get("notascheme://x"), [&](Result<HttpResponse>) { ++called; });
  EXPECT_EQ(called, 0);
  loop.run();
  EXPECT_EQ(called, 2);
}

TEST(AsyncHttp, TimeoutIsAnError) {
  HttpServer server([](const Request&) { return Response{200, "late", {}, 1500}; });
  auto started = std::chrono::steady_clock::now();
  auto r = exchange(get(server.url("/"), Duration{200}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "timeout after 200 ms");
  EXPECT_LT(seconds_since(started), 1.4);  // curl's deadline, not the server's answer
}

TEST(AsyncHttp, ConnectionRefusedIsAnError) {
  auto r = exchange(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  ASSERT_FALSE(r);
  auto blocking = http_perform(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  ASSERT_FALSE(blocking);
  EXPECT_NE(r.error().message.find("onnect"), std::string::npos) << r.error().message;
}

TEST(AsyncHttp, BodyStopsAtTheCap) {
  HttpServer server([](const Request&) { return Response{200, std::string(8 << 20, 'x')}; });
  HttpRequest req = get(server.url("/big"));
  req.max_body = 64 * 1024;
  auto r = exchange(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body_truncated);
  EXPECT_EQ(r->body.size(), 64u * 1024);
}

TEST(AsyncHttp, ResponseMatchesTheBlockingClient) {
  HttpServer server([](const Request& q) {
    return Response{q.method == "POST" ? 201 : 404, q.method + " " + q.body, {{"X-Kind", "canned"}}};
  });
  HttpRequest req = get(server.url("/thing"));
  req.method = "POST";
  req.body = "payload";
  req.headers = {{"X-Token", "t"}};
  auto async = exchange(req);
  auto blocking = http_perform(req);
  ASSERT_TRUE(async) << async.error().message;
  ASSERT_TRUE(blocking) << blocking.error().message;
  EXPECT_EQ(async->status, 201);
  EXPECT_EQ(async->status, blocking->status);
  EXPECT_EQ(async->body, "POST payload");
  EXPECT_EQ(async->body, blocking->body);
  EXPECT_EQ(async->headers, blocking->headers);
  ASSERT_NE(async->header("x-kind"), nullptr);
  EXPECT_EQ(*async->header("x-kind"), "canned");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("x-token"), "t");
  EXPECT_EQ(requests[0].header("expect"), "");  // no 100-continue on bodies
}

// Exchanges one after the other (each started when the previous is done);
// the connections the server accepted for them.
int sequential_connections_to(KeepAliveServer& server, bool reuse, int n) {
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  int ok = 0;
  std::function<void(int)> next = [&](int left) {
    if (left == 0) return;
    HttpRequest req = get(server.url("/"));
    req.reuse_connection = reuse;
    http.perform(std::move(req), [&, left](Result<HttpResponse> r) {
      if (r && r->status == 200) ++ok;
      next(left - 1);
    });
  };
  next(n);
  loop.run();
  EXPECT_EQ(ok, n);
  EXPECT_EQ(server.requests(), n);
  return server.accepted();
}

int sequential_connections(bool reuse, int n) {
  KeepAliveServer server([](const Request&) { return Response{200, "ok"}; });
  return sequential_connections_to(server, reuse, n);
}

TEST(AsyncHttp, EveryExchangeConnectsAnewByDefault) { EXPECT_EQ(sequential_connections(false, 5), 5); }

TEST(AsyncHttp, ReuseConnectionKeepsOneConnection) { EXPECT_EQ(sequential_connections(true, 5), 1); }

TEST(AsyncHttp, HostNameGoesThroughTheResolver) {
  HttpServer server([](const Request&) { return Response{200, "named"}; });
  std::string url = server.url("/");
  url.replace(url.find("127.0.0.1"), 9, "localhost");  // the server listens on IPv4 only: every address is tried
  auto r = exchange(get(url));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "named");
}

TEST(AsyncHttp, KeptConnectionsSurviveTheirExchangesFinishingTogether) {
  // 64 exchanges in flight, each followed by the next as soon as it is done,
  // as a watcher's keepalive probes are; answers held back a little so that
  // they land together. 64 connections serve all of them, although for a
  // moment most exchanges have finished and left curl's multi handle.
  KeepAliveServer server([](const Request&) { return Response{200, "ok", {}, 20}; });
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  constexpr int kInFlight = 64, kEach = 12;
  int ok = 0, left = kInFlight * kEach;
  std::function<void()> next = [&] {
    if (left == 0) return;
    --left;
    HttpRequest req = get(server.url("/"));
    req.reuse_connection = true;
    http.perform(std::move(req), [&](Result<HttpResponse> r) {
      ok += r && r->status == 200;
      next();
    });
  };
  for (int i = 0; i < kInFlight; ++i) next();
  loop.run();
  EXPECT_EQ(ok, kInFlight * kEach);
  EXPECT_EQ(server.accepted(), kInFlight);
}

TEST(AsyncHttp, KeptConnectionClosedByTheServerIsReplaced) {
  KeepAliveServer server([](const Request&) { return Response{200, "ok"}; }, /*drop_after_response=*/true);
  EXPECT_EQ(sequential_connections_to(server, true, 4), 4);
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(AsyncHttp, DestroyedWithExchangesInFlightCallsNothing) {
  boost::asio::io_context loop;
  // Before counting: libcurl loaded, and the loop's reactor (epoll, eventfd, timerfd) made.
  exchange(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  boost::asio::steady_timer reactor_made(loop);
  size_t descriptors = open_descriptors();
  int called = 0;
  {
    HttpServer server([](const Request&) { return Response{200, "late", {}, 400}; });
    KeepAliveServer kept([](const Request&) { return Response{200, "ok"}; });
    auto http = std::make_unique<AsyncHttp>(loop);
    // One kept connection idle in curl's cache, closed by the destructor.
    HttpRequest keep = get(kept.url("/"));
    keep.reuse_connection = true;
    http->perform(keep, [&](Result<HttpResponse>) {});
    loop.run();
    loop.restart();
    for (int i = 0; i < 10; ++i) http->perform(get(server.url("/")), [&](Result<HttpResponse>) { ++called; });
    loop.run_for(100ms);  // connected and waiting for the answers
    EXPECT_EQ(http->in_flight(), 10u);
    http.reset();
    // Whatever the loop still held for it (aborted waits, the timer) runs and
    // does nothing; the loop then runs out of work instead of waiting on it.
    auto started = std::chrono::steady_clock::now();
    loop.restart();
    loop.run_for(3s);
    EXPECT_LT(seconds_since(started), 2.0);
  }
  EXPECT_EQ(called, 0);
  EXPECT_EQ(open_descriptors(), descriptors);  // every socket closed, the kept one included
}

TEST(AsyncHttp, DestroyedByACallbackTheOthersAreNotCalled) {
  HttpServer server([](const Request&) { return Response{200, "ok"}; });
  boost::asio::io_context loop;
  auto http = std::make_unique<AsyncHttp>(loop);
  int called = 0;
  for (int i = 0; i < 5; ++i)
    http->perform(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"), [&](Result<HttpResponse>) {
      ++called;
      http.reset();  // from inside a callback
    });
  loop.run();
  EXPECT_EQ(called, 1);
  EXPECT_EQ(http, nullptr);
}

TEST(AsyncHttp, CallbackMayStartTheNextExchange) {
  HttpServer server([](const Request&) { return Response{200, "ok"}; });
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  std::vector<int> statuses;
  http.perform(get(server.url("/1")), [&](Result<HttpResponse> r) {
    statuses.push_back(r ? r->status : -1);
    http.perform(get(server.url("/2")), [&](Result<HttpResponse> r2) { statuses.push_back(r2 ? r2->status : -1); });
  });
  loop.run();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
}

}  // namespace
}  // namespace dg::test
