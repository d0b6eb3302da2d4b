// The watcher's HTTP listener over real loopback sockets: routing and the
// request it hands over, deferred answers, every bound (413, 431, 429, 503
// past max_connections, a slow-loris client closed by the read timeout,
// idle keep-alive), TLS with a certificate made here by the openssl CLI and
// checked by curl, and bind errors. Timeouts are made small for the test;
// the assertions on time are generous upper bounds only.
#include "agent/watch/http_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "agent/core/process.h"
#include "tests/integration/integration_helpers.h"

using namespace std::chrono_literals;

namespace dg {
namespace {

/// The loop on a thread of its own, as the watcher runs it.
class Loop {
 public:
  Loop() : guard_(boost::asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~Loop() {
    guard_.reset();
    ioc_.stop();
    thread_.join();
  }
  boost::asio::io_context& ioc() { return ioc_; }
  /// Runs `f` on the loop's thread and waits for it.
  template <class F>
  auto on_loop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(ioc_, [&task] { task(); });
    return result.get();
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

/// A raw loopback client: exactly the bytes the test writes, nothing more.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  /// One response (headers, then Content-Length bytes), or "" on close or timeout.
  std::string response(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        auto lower = buf_.substr(0, end);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto cl = lower.find("\r\ncontent-length:");
        if (cl != std::string::npos) length = std::stoul(lower.substr(cl + 17));
        if (buf_.size() >= end + 4 + length) {
          std::string out = buf_.substr(0, end + 4 + length);
          buf_.erase(0, end + 4 + length);
          return out;
        }
      }
      if (!fill(deadline)) return "";
    }
  }
  /// Whether the server closes the connection before `timeout` passes.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    return eof_;
  }

 private:
  // Reads what is there; false on close, error or the deadline.
  bool fill(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string header_of(const std::string& response, std::string name) {
  std::string lower = response.substr(0, response.find("\r\n\r\n") + 2);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  auto start = at + 3 + name.size();
  auto end = response.find("\r\n", start);
  std::string v = response.substr(start, end - start);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

std::string body_of(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

/// A spec with room for a test's burst of requests, and short timeouts.
ListenerSpec test_spec() {
  ListenerSpec s;
  s.requests = {1000, 1000};
  s.mutating = {1000, 1000};
  s.read_timeout = 2000ms;
  s.idle_timeout = 2000ms;
  return s;
}

/// Echoes what the listener made of the request.
void echo(const ServerRequest& r, Respond respond) {
  if (r.path == "/missing") return respond(text_response(404, "no such page"));
  std::string out = r.method + " " + r.path + "\n";
  for (const auto& [k, v] : r.query) out += "q " + k + "=" + v + "\n";
  if (auto* h = r.header("X-Test")) out += "x-test " + *h + "\n";
  out += "from " + r.remote_address + "\n";
  out += "body " + r.body + "\n";
  ServerResponse resp;
  resp.body = out;
  resp.headers.emplace_back("X-Route", "echo");
  respond(std::move(resp));
}

Result<std::unique_ptr<HttpListener>> start_on(Loop& loop, ListenerSpec spec, RequestHandler handler = echo) {
  return loop.on_loop([&] { return HttpListener::start(loop.ioc(), std::move(spec), std::move(handler)); });
}

struct Fixture {
  explicit Fixture(ListenerSpec spec = test_spec(), RequestHandler handler = echo) {
    auto started = start_on(loop, std::move(spec), std::move(handler));
    if (started) {
      listener = std::move(*started);
    } else {
      error = started.error().message;
    }
  }
  ~Fixture() {
    if (listener) loop.on_loop([&] { listener->stop(); });
  }
  ListenerStats stats() {
    return loop.on_loop([&] { return listener->stats(); });
  }
  uint16_t port() const { return listener->port(); }
  Loop loop;
  std::unique_ptr<HttpListener> listener;
  std::string error;
};

Result<CommandResult> curl(std::vector<std::string> args) {
  CommandSpec spec;
  spec.argv = {"curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = 20000ms;
  return run_command(spec);
}

TEST(HttpListener, RoutesAndHandsOverTheDecodedRequest) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/api/v1/a%20b?limit=5&name=jane+doe&e=%26", "x-TEST: Yes\r\n")));
  auto r = c.response();
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_EQ(header_of(r, "X-Route"), "echo");
  EXPECT_EQ(header_of(r, "Content-Type"), "text/plain; charset=utf-8");
  auto body = body_of(r);
  EXPECT_NE(body.find("GET /api/v1/a b\n"), std::string::npos) << body;
  EXPECT_NE(body.find("q limit=5\nq name=jane doe\nq e=&\n"), std::string::npos) << body;
  EXPECT_NE(body.find("x-test Yes\n"), std::string::npos) << "header lookup ignores case: " << body;
  EXPECT_NE(body.find("from 127.0.0.1\n"), std::string::npos) << body;

  std::string post = "POST /api/v1/alarm HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world";
  ASSERT_TRUE(c.send(post));
  r = c.response();
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(body_of(r).find("POST /api/v1/alarm\n"), std::string::npos) << r;
  EXPECT_NE(body_of(r).find("body hello world\n"), std::string::npos) << r;
}

TEST(HttpListener, AHandlersNotFoundReachesTheClient) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  auto r = curl({"http://127.0.0.1:" + std::to_string(f.port()) + "/missing"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "no such page\n\n404");
}

TEST(HttpListener, HeadAnswersTheHeadersOnly) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  // The Content-Length is the one a GET would get, and no body follows: the
  // bytes after the HEAD's header are the next response's. (Client reads
  // Content-Length bytes after a header, so here they are the GET's start.)
  ASSERT_TRUE(c.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n" + get("/y")));
  auto head = c.response();
  EXPECT_EQ(status_of(head), 200) << head;
  EXPECT_EQ(header_of(head, "Content-Length"), std::to_string(std::string("HEAD /x\nfrom 127.0.0.1\nbody \n").size()));
  EXPECT_EQ(body_of(head).rfind("HTTP/1.1 200", 0), 0u) << "the GET's response follows at once: " << head;
}

TEST(HttpListener, BodyOverTheLimitIs413) {
  ListenerSpec spec = test_spec();
  spec.max_body = 1024;
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  {  // Refused on the Content-Length alone, before any of the body is sent.
    Client c(f.port());
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
    auto r = c.response();
    EXPECT_EQ(status_of(r), 413) << r;
    EXPECT_EQ(header_of(r, "Connection"), "close");
    EXPECT_TRUE(c.closed_within(5000ms));
  }
  {  // A client that sent part of its body before reading still reads the 413.
     // (The listener drains unread bytes before it closes, so that a reset
     // cannot discard the response in flight; on loopback Linux delivers the
     // response before the reset either way, so this does not tell the two apart.)
    Client c(f.port());
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + std::string(60000, 'x')));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(status_of(c.response()), 413);
  }
  {  // And so does curl sending the whole body without waiting for 100-continue.
    test::TempDir dir;
    auto file = dir.write("big", std::string(200000, 'x'));
    auto r = curl({"-H", "Expect:", "--data-binary", "@" + file, "http://127.0.0.1:" + std::to_string(f.port()) + "/x"});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->out, "request body too large\n\n413") << r->err;
  }
  {  // Within the limit: fine, over a chunked body too.
    Client c(f.port());
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    auto r = c.response();
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_NE(body_of(r).find("body hello\n"), std::string::npos) << r;
  }
  EXPECT_GE(f.stats().bad_requests, 2u);
}

TEST(HttpListener, HeaderOverTheLimitIs431) {
  ListenerSpec spec = test_spec();
  spec.max_header_bytes = 2048;
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  ASSERT_TRUE(c.send(get("/x", "X-Big: " + std::string(4000, 'a') + "\r\n")));
  auto r = c.response();
  EXPECT_EQ(status_of(r), 431) << r;
  EXPECT_TRUE(c.closed_within(5000ms));
  Client ok(f.port());
  ASSERT_TRUE(ok.send(get("/x", "X-Small: " + std::string(1000, 'a') + "\r\n")));
  EXPECT_EQ(status_of(ok.response()), 200);
}

TEST(HttpListener, MalformedRequestIs400) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost t\r\n\r\n"));
  auto r = c.response();
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_NE(body_of(r).find("bad request"), std::string::npos) << r;
  Client target(f.port());
  ASSERT_TRUE(target.send(get("/x%zz")));
  r = target.response();
  EXPECT_EQ(status_of(r), 400) << "an invalid percent-escape: " << r;
}

TEST(HttpListener, BurstPastTheRateIs429WithRetryAfter) {
  ListenerSpec spec = test_spec();
  spec.requests = {0.5, 5};  // 5 at once, then one every 2 s
  spec.mutating = {0.2, 2};
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  int ok = 0;
  std::string limited;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(c.send(get("/x")));
    auto r = c.response();
    if (status_of(r) == 200) ++ok;
    if (status_of(r) == 429 && limited.empty()) limited = r;
  }
  EXPECT_EQ(ok, 5);
  ASSERT_FALSE(limited.empty());
  int retry = std::stoi(header_of(limited, "Retry-After"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 2);
  EXPECT_EQ(f.stats().rate_limited, 3u);
  // A 429 without a body keeps the connection: the client may wait and retry.
  ASSERT_TRUE(c.send(get("/x")));
  EXPECT_EQ(status_of(c.response()), 429);
}

TEST(HttpListener, MutatingMethodsHaveTheirOwnStricterBucket) {
  ListenerSpec spec = test_spec();
  spec.requests = {100, 100};
  spec.mutating = {0.1, 2};
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  std::string post = "POST /api/v1/pause HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(post));
    statuses.push_back(status_of(c.response()));
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));
  ASSERT_TRUE(c.send(get("/x")));
  EXPECT_EQ(status_of(c.response()), 200) << "reads are not held back by the write bucket";
}

TEST(HttpListener, PastMaxConnectionsIs503AndAFreedSlotServesAgain) {
  ListenerSpec spec = test_spec();
  spec.max_connections = 2;
  spec.read_timeout = 20000ms;  // the two idle clients must keep their slots
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  auto a = std::make_unique<Client>(f.port());
  Client b(f.port());
  ASSERT_TRUE(a->connected() && b.connected());
  auto until = [&](auto pred) {
    for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  };
  ASSERT_TRUE(until([&] { return f.stats().open_connections == 2; }));
  {
    Client over(f.port());
    ASSERT_TRUE(over.send(get("/x")));
    auto r = over.response();
    EXPECT_EQ(status_of(r), 503) << r;
    EXPECT_EQ(header_of(r, "Retry-After"), "1");
    EXPECT_TRUE(over.closed_within(5000ms));
  }
  EXPECT_EQ(f.stats().rejected_connections, 1u);
  a.reset();  // frees a slot
  ASSERT_TRUE(until([&] { return f.stats().open_connections == 1; }));
  Client again(f.port());
  ASSERT_TRUE(again.send(get("/x")));
  EXPECT_EQ(status_of(again.response()), 200);
}

TEST(HttpListener, SlowLorisIsClosedWithinTheReadTimeout) {
  ListenerSpec spec = test_spec();
  spec.read_timeout = 400ms;
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: t\r\n"));
  // One header byte every 50 ms: each byte arrives well within any per-read
  // timeout, and the request would take 25 s to complete.
  auto t0 = std::chrono::steady_clock::now();
  std::string header = "X-Slow: " + std::string(500, 'a');
  bool closed = false;
  for (char ch : header) {
    if (!c.send(std::string_view(&ch, 1)) || c.closed_within(50ms)) {
      closed = true;
      break;
    }
  }
  double took = test::seconds_since(t0);
  EXPECT_TRUE(closed);
  EXPECT_LT(took, 5.0) << "closed after " << took << " s; the read timeout is 0.4 s";
  EXPECT_EQ(f.stats().timeouts, 1u);
  EXPECT_EQ(f.stats().requests, 0u);
}

TEST(HttpListener, KeepAliveServesSeveralRequestsOnOneConnectionThenIdlesOut) {
  ListenerSpec spec = test_spec();
  spec.idle_timeout = 300ms;
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  Client c(f.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/k" + std::to_string(i))));
    auto r = c.response();
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_NE(body_of(r).find("/k" + std::to_string(i)), std::string::npos);
  }
  // Pipelined: two requests in one write, two responses in order.
  ASSERT_TRUE(c.send(get("/p1") + get("/p2")));
  EXPECT_NE(body_of(c.response()).find("/p1"), std::string::npos);
  EXPECT_NE(body_of(c.response()).find("/p2"), std::string::npos);
  EXPECT_EQ(f.stats().accepted, 1u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_within(5000ms)) << "an idle kept-alive connection is closed";
  EXPECT_LT(test::seconds_since(t0), 4.0);
  // "Connection: close" is honoured.
  Client once(f.port());
  ASSERT_TRUE(once.send(get("/x", "Connection: close\r\n")));
  auto r = once.response();
  EXPECT_EQ(header_of(r, "Connection"), "close");
  EXPECT_TRUE(once.closed_within(5000ms));
}

TEST(HttpListener, DeferredResponseFromAnotherThread) {
  std::mutex mu;
  std::vector<std::thread> workers;
  auto handler = [&](const ServerRequest& r, Respond respond) {
    if (r.path == "/dropped") return;  // drops its Respond without answering
    std::lock_guard lock(mu);
    workers.emplace_back([respond, path = r.path] {
      std::this_thread::sleep_for(100ms);  // a journal append, say
      respond(text_response(201, "appended " + path));
      respond(text_response(500, "a second answer is ignored"));
    });
  };
  {
    Fixture f(test_spec(), handler);
    ASSERT_TRUE(f.listener) << f.error;
    Client c(f.port());
    ASSERT_TRUE(c.send(get("/later")));
    auto r = c.response();
    EXPECT_EQ(status_of(r), 201) << r;
    EXPECT_EQ(body_of(r), "appended /later\n");
    ASSERT_TRUE(c.send(get("/later2")));
    EXPECT_EQ(body_of(c.response()), "appended /later2\n") << "the connection stays usable";
    ASSERT_TRUE(c.send(get("/dropped")));
    r = c.response();
    EXPECT_EQ(status_of(r), 500) << r;
  }
  for (auto& w : workers) w.join();
}

TEST(HttpListener, StopClosesConnectionsAndStopsAccepting) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  Client idle(f.port());
  ASSERT_TRUE(idle.send(get("/x")));
  EXPECT_EQ(status_of(idle.response()), 200);
  uint16_t port = f.port();
  f.loop.on_loop([&] { f.listener->stop(); });
  EXPECT_TRUE(idle.closed_within(5000ms));
  Client late(port);
  EXPECT_FALSE(late.connected());
}

TEST(HttpListener, TlsWithASelfSignedCertificateCheckedByCurl) {
  test::TempDir dir;
  std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  CommandSpec gen;
  gen.argv = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
              "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"};
  auto made = run_command(gen);
  ASSERT_TRUE(made && made->exit_code == 0) << (made ? made->err : made.error().message);

  ListenerSpec spec = test_spec();
  spec.tls_cert = cert;
  spec.tls_key = key;
  Fixture f(spec);
  ASSERT_TRUE(f.listener) << f.error;
  EXPECT_TRUE(f.listener->tls());
  std::string base = "https://127.0.0.1:" + std::to_string(f.port());
  // Two URLs in one curl: the second reuses the TLS connection.
  auto r = curl({"--cacert", cert, base + "/secure?a=1", base + "/again"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_NE(r->out.find("GET /secure\nq a=1\n"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("GET /again\n"), std::string::npos) << r->out;
  EXPECT_EQ(f.stats().accepted, 1u);
  // Without the CA curl refuses the certificate; plain HTTP gets no answer.
  auto untrusted = curl({base + "/x"});
  ASSERT_TRUE(untrusted);
  EXPECT_NE(untrusted->exit_code, 0);
  Client plain(f.port());
  ASSERT_TRUE(plain.send(get("/x")));
  EXPECT_EQ(plain.response(), "");
  EXPECT_GE(f.stats().tls_handshake_failures, 1u);

  // Files that do not hold a certificate and key are start errors.
  Loop loop;
  ListenerSpec bad = test_spec();
  bad.tls_cert = dir.write("nocert.pem", "not a certificate\n");
  bad.tls_key = key;
  auto failed = start_on(loop, bad);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("cannot load TLS certificate"), std::string::npos) << failed.error().message;
  bad.tls_cert = cert;
  bad.tls_key = "";
  auto unpaired = start_on(loop, bad);
  ASSERT_FALSE(unpaired);
  EXPECT_NE(unpaired.error().message.find("tls_cert and tls_key go together"), std::string::npos);
}

TEST(HttpListener, BindConflictAndBadAddressAreErrors) {
  Fixture f;
  ASSERT_TRUE(f.listener) << f.error;
  ListenerSpec same = test_spec();
  same.port = f.port();
  auto second = start_on(f.loop, same);
  ASSERT_FALSE(second);
  std::string msg = second.error().message;
  EXPECT_NE(msg.find("cannot listen on 127.0.0.1:" + std::to_string(f.port())), std::string::npos) << msg;
  for (auto& ch : msg) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(msg.find("address already in use"), std::string::npos) << msg;

  ListenerSpec host = test_spec();
  host.address = "localhost";
  auto bad = start_on(f.loop, host);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("invalid listen address 'localhost'"), std::string::npos);
}

TEST(HttpListener, Ipv6Loopback) {
  ListenerSpec spec = test_spec();
  spec.address = "::1";
  Fixture f(spec);
  if (!f.listener) GTEST_SKIP() << "no IPv6 loopback here: " << f.error;
  auto r = curl({"http://[::1]:" + std::to_string(f.port()) + "/six"});
  ASSERT_TRUE(r);
  EXPECT_NE(r->out.find("from ::1\n"), std::string::npos) << r->out << r->err;
}

}  // namespace
}  // namespace dg
