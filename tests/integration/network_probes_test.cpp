// The tls, dns, icmp and websocket probes against real servers on loopback:
// an OpenSSL s_server with a CA and certificates made here (one about to
// expire), dnsmasq answering crafted records, ping to 127.0.0.1, and a
// Boost.Beast echo server.
#include <gtest/gtest.h>
#include <pwd.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <thread>

#include "agent/core/async_http.h"
#include "agent/core/async_io.h"
#include "agent/core/process.h"
#include "probes/dns/dns_probe.h"
#include "probes/icmp/icmp_probe.h"
#include "probes/tls/tls_probe.h"
#include "probes/websocket/websocket_probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"

extern char** environ;

namespace dg::test {
namespace {

/// A background process killed at scope exit.
class Child {
 public:
  explicit Child(std::vector<std::string> argv, const std::string& log) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ok_ = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = 0;
  bool ok_ = false;
};

bool run(std::vector<std::string> argv, const std::string& cwd) {
  auto r = run_command(CommandSpec{.argv = std::move(argv), .cwd = cwd, .timeout = Duration{20'000}});
  if (!r || r->exit_code != 0) {
    ADD_FAILURE() << (r ? r->err : r.error().message);
    return false;
  }
  return true;
}

bool wait_listening(int port) {
  for (int i = 0; i < 200; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

Observation run_probe(Probe& p) {
  SystemClock clock;
  return p.run(clock);
}

// ---- tls ----

class TlsProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.path();
    dir_.write("ext.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    auto ec = std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    auto with = [&](std::vector<std::string> head, std::vector<std::string> tail) {
      head.insert(head.end(), tail.begin(), tail.end());
      return head;
    };
    ASSERT_TRUE(run(with({"openssl", "req", "-x509"}, with(ec, {"-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=deployguard test CA"})), d));
    ASSERT_TRUE(run(with({"openssl", "req"}, with(ec, {"-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"})), d));
    // Three days left: the "expiring certificate".
    ASSERT_TRUE(run({"openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "leaf.pem", "-days", "3", "-extfile", "ext.cnf"}, d));
    port_ = closed_port();
    server_ = std::make_unique<Child>(
        std::vector<std::string>{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port_), "-cert",
                                 d + "/leaf.pem", "-key", d + "/leaf.key", "-alpn", "h2,http/1.1", "-quiet"},
        d + "/server.log");
    ASSERT_TRUE(server_->ok() && wait_listening(port_)) << slurp(d + "/server.log");
  }
  TlsProbeSpec spec() {
    return TlsProbeSpec{.host = "127.0.0.1", .port = port_, .server_name = "localhost", .ca_file = dir_.file("ca.pem")};
  }
  Observation probe(TlsProbeSpec s) {
    auto p = make_tls_probe("tls", Duration{3000}, std::move(s));
    return run_probe(*p);
  }
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Child> server_;
};

TEST_F(TlsProbeTest, ValidChainAgainstTheConfiguredCa) {
  auto s = spec();
  s.min_days_left = 1;
  s.min_version = "TLSv1.2";
  s.alpn = {"h2"};
  s.expect_alpn = "h2";
  Observation o = probe(s);
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_NE(o.detail.find("TLSv1.3"), std::string::npos) << o.detail;
}

TEST_F(TlsProbeTest, SelfSignedCaIsNotInTheSystemStore) {
  auto s = spec();
  s.ca_file.clear();
  Observation o = probe(s);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("certificate chain not valid"), std::string::npos) << o.detail;
}

TEST_F(TlsProbeTest, HostnameMismatch) {
  auto s = spec();
  s.server_name = "other.example";
  Observation o = probe(s);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("certificate does not match other.example"), std::string::npos) << o.detail;
  EXPECT_EQ(o.detail.find("chain not valid"), std::string::npos) << "the chain itself is good: " << o.detail;
}

TEST_F(TlsProbeTest, ExpiringCertificateBelowTheBound) {
  auto s = spec();
  s.min_days_left = 7;
  Observation o = probe(s);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("(min_days_left 7)"), std::string::npos) << o.detail;
  EXPECT_TRUE(o.detail.find("expires in 2 day") != std::string::npos || o.detail.find("expires in 3 day") != std::string::npos)
      << o.detail;
}

TEST_F(TlsProbeTest, AlpnAndVersionExpectations) {
  auto s = spec();
  s.alpn = {"http/1.1"};
  s.expect_alpn = "h2";
  Observation o = probe(s);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("ALPN http/1.1 (expected h2)"), std::string::npos) << o.detail;
}

TEST_F(TlsProbeTest, ClosedPortFailsAndUnknownHostIsAnError) {
  auto s = spec();
  s.port = closed_port();
  EXPECT_EQ(probe(s).outcome, Outcome::Failed);
  s.host = "no-such-host.invalid";
  EXPECT_EQ(probe(s).outcome, Outcome::Error);
}

// ---- dns ----

class DnsProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dnsmasq = std::filesystem::exists("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq";
    // A free UDP and TCP port: the TCP one from closed_port() is free for UDP too, almost always.
    port_ = closed_port();
    server_ = std::make_unique<Child>(
        std::vector<std::string>{dnsmasq, "--no-daemon", "--port=" + std::to_string(port_), "--listen-address=127.0.0.1",
                                 "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                                 "--pid-file=", "--user=" + std::string(::getpwuid(::getuid())->pw_name),
                                 "--local=/dg.test/", "--host-record=app.dg.test,127.0.0.7,::7",
                                 "--cname=www.dg.test,app.dg.test", "--txt-record=txt.dg.test,v=deployguard",
                                 "--mx-host=dg.test,mail.dg.test,10", "--srv-host=_http._tcp.dg.test,web.dg.test,8080,1,5"},
        dir_.file("dnsmasq.log"));
    ASSERT_TRUE(server_->ok() && wait_listening(port_)) << slurp(dir_.file("dnsmasq.log"));
  }
  Observation probe(DnsProbeSpec s) {
    s.server = "127.0.0.1";
    s.port = port_;
    auto p = make_dns_probe("dns", Duration{2000}, std::move(s));
    return run_probe(*p);
  }
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Child> server_;
};

TEST_F(DnsProbeTest, EveryRecordType) {
  EXPECT_EQ(probe({.name = "app.dg.test", .type = "A", .answers_contain = {"127.0.0.7"}}).outcome, Outcome::Passed);
  EXPECT_EQ(probe({.name = "app.dg.test", .type = "AAAA", .answers_contain = {"::7"}}).outcome, Outcome::Passed);
  EXPECT_EQ(probe({.name = "www.dg.test", .type = "CNAME", .answers_contain = {"app.dg.test"}}).outcome, Outcome::Passed);
  EXPECT_EQ(probe({.name = "txt.dg.test", .type = "TXT", .answers_equal = std::vector<std::string>{"v=deployguard"}}).outcome,
            Outcome::Passed);
  EXPECT_EQ(probe({.name = "dg.test", .type = "MX", .answers_contain = {"10 mail.dg.test"}}).outcome, Outcome::Passed);
  Observation srv = probe({.name = "_http._tcp.dg.test", .type = "SRV", .answers_contain = {"1 5 8080 web.dg.test"}});
  EXPECT_EQ(srv.outcome, Outcome::Passed) << srv.detail;
}

TEST_F(DnsProbeTest, WrongAnswersAndRcodeFail) {
  Observation o = probe({.name = "app.dg.test", .type = "A", .answers_contain = {"10.0.0.1"}});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("answers lack \"10.0.0.1\""), std::string::npos) << o.detail;
  EXPECT_NE(o.excerpt.find("127.0.0.7"), std::string::npos) << o.excerpt;
  DnsProbeSpec re{.name = "app.dg.test", .type = "A", .answers_regex_text = "^10\\."};
  re.answers_regex = *Regex::compile(re.answers_regex_text);
  EXPECT_EQ(probe(re).outcome, Outcome::Failed);
  o = probe({.name = "missing.dg.test", .type = "A"});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("rcode NXDOMAIN (expected NOERROR)"), std::string::npos) << o.detail;
  EXPECT_EQ(probe({.name = "missing.dg.test", .type = "A", .expect_rcode = "NXDOMAIN"}).outcome, Outcome::Passed);
}

TEST_F(DnsProbeTest, NoServerIsAnError) {
  DnsProbeSpec s{.name = "app.dg.test", .type = "A", .server = "127.0.0.1", .port = closed_port()};
  auto p = make_dns_probe("dns", Duration{500}, s);
  Observation o = run_probe(*p);
  EXPECT_EQ(o.outcome, Outcome::Error) << o.detail;
}

// ---- icmp ----

TEST(IcmpProbe, LoopbackAnswersEveryEcho) {
  auto p = make_icmp_probe("ping", Duration{2000}, IcmpProbeSpec{.host = "127.0.0.1", .count = 3, .interval = Duration{50}});
  Observation o = run_probe(*p);
  if (o.outcome == Outcome::Error && ::geteuid() != 0) GTEST_SKIP() << "no ICMP socket here: " << o.detail;
  ASSERT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_NE(o.detail.find("3/3 replies"), std::string::npos) << o.detail;
  // As root with an empty ping_group_range the raw path is the one taken.
  if (::geteuid() == 0 && slurp("/proc/sys/net/ipv4/ping_group_range").starts_with("1\t0"))
    EXPECT_NE(o.detail.find("(raw socket)"), std::string::npos) << o.detail;
}

TEST(IcmpProbe, RttBoundAndTheErrorThatSaysHowToAllowPing) {
  IcmpFacts f{.socket_kind = "raw", .sent = 4, .received = 3, .rtt_max = Duration{30}};
  Observation o = evaluate_icmp("ping", IcmpProbeSpec{.host = "h", .max_loss_percent = 10, .max_rtt = Duration{20}}, f, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("25 % loss"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("round trip 30 ms above max_rtt 20 ms"), std::string::npos) << o.detail;
  // A process without either socket: what it says, whoever runs the test.
  if (::geteuid() != 0) {
    auto p = make_icmp_probe("ping", Duration{500}, IcmpProbeSpec{.host = "127.0.0.1", .socket = "raw"});
    Observation e = run_probe(*p);
    EXPECT_EQ(e.outcome, Outcome::Error);
    EXPECT_NE(e.detail.find("ping_group_range"), std::string::npos) << e.detail;
  }
}

// ---- websocket ----

namespace beast = boost::beast;
namespace asio = boost::asio;

/// Echoes each message (or stays silent, for "no reply" cases) on a thread.
class EchoServer {
 public:
  explicit EchoServer(bool silent = false) : acceptor_(loop_, {asio::ip::make_address("127.0.0.1"), 0}), silent_(silent) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    beast::error_code ec;
    // Wake the accept with a connection of our own.
    asio::ip::tcp::socket s(loop_);
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, ec);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      asio::ip::tcp::socket sock(loop_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      std::thread([s = std::move(sock), silent = silent_]() mutable {
        beast::error_code ec;
        beast::websocket::stream<asio::ip::tcp::socket> ws(std::move(s));
        ws.accept(ec);
        if (ec) return;
        for (;;) {
          beast::flat_buffer b;
          ws.read(b, ec);
          if (ec) return;
          if (silent) continue;
          ws.text(ws.got_text());
          ws.write(b.data(), ec);
          if (ec) return;
        }
      }).detach();
    }
  }
  asio::io_context loop_;
  asio::ip::tcp::acceptor acceptor_;
  bool silent_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

WebsocketProbeSpec ws_spec(int port, const std::string& send, const std::string& re) {
  WebsocketProbeSpec s{.url = "ws://127.0.0.1:" + std::to_string(port) + "/echo", .send = send, .expect_regex_text = re};
  if (!re.empty()) s.expect_regex = *Regex::compile(re);
  return s;
}

TEST(WebsocketProbe, EchoReplyMatchesOrNot) {
  EchoServer echo;
  auto ok = make_websocket_probe("ws", Duration{2000}, ws_spec(echo.port(), "ping 42", "^ping \\d+$"));
  Observation o = run_probe(*ok);
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  auto bad = make_websocket_probe("ws", Duration{2000}, ws_spec(echo.port(), "ping", "pong"));
  o = run_probe(*bad);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("reply does not match /pong/"), std::string::npos) << o.detail;
  EXPECT_EQ(o.excerpt, "ping");
  // On the loop, the same verdicts.
  asio::io_context loop;
  AsyncHttp http(loop);
  AsyncIo io{loop, http};
  SystemClock clock;
  std::vector<Outcome> got;
  ok->start(io, clock, [&](Observation x) { got.push_back(x.outcome); });
  bad->start(io, clock, [&](Observation x) { got.push_back(x.outcome); });
  loop.run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(std::count(got.begin(), got.end(), Outcome::Passed), 1);
  EXPECT_EQ(std::count(got.begin(), got.end(), Outcome::Failed), 1);
}

TEST(WebsocketProbe, SilenceRefusalAndNoServer) {
  EchoServer silent(true);
  auto p = make_websocket_probe("ws", Duration{500}, ws_spec(silent.port(), "ping", "ping"));
  Observation o = run_probe(*p);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("no reply"), std::string::npos) << o.detail;

  HttpServer plain([](const Request&) { return Response{.status = 404, .body = "no websockets here"}; });
  auto refused = make_websocket_probe("ws", Duration{1000}, ws_spec(plain.port(), "", ""));
  o = run_probe(*refused);
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("upgrade refused"), std::string::npos) << o.detail;

  auto none = make_websocket_probe("ws", Duration{1000}, ws_spec(closed_port(), "ping", ""));
  EXPECT_EQ(run_probe(*none).outcome, Outcome::Error);
}

}  // namespace
}  // namespace dg::test
