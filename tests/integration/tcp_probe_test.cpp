// TCP probe against real loopback sockets.
#include <gtest/gtest.h>

#include "probes/tcp_probe.h"
#include "agent/core/clock.h"
#include "probes/probe.h"
#include "tests/integration/integration_helpers.h"

namespace dg::test {
namespace {

ProbeSpec tcp_spec(std::string host, int port, Duration timeout = Duration{2000}) {
  return ProbeSpec{.name = "tcp-check", .type = "tcp", .timeout = timeout,
                   .kind = TcpProbeSpec{.host = std::move(host), .port = port}};
}

/// A listening loopback socket on an ephemeral port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(TcpProbe, ListeningSocketPasses) {
  Listener listener;
  SystemClock clock;
  auto probe = make_probe(tcp_spec("127.0.0.1", listener.port()));
  ASSERT_NE(probe, nullptr);
  Observation obs = probe->run(clock);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  EXPECT_EQ(obs.signal, "tcp-check");
  EXPECT_NE(obs.detail.find(std::to_string(listener.port())), std::string::npos) << obs.detail;
}

TEST(TcpProbe, LocalhostNameResolvesAndPasses) {
  Listener listener;  // IPv4 only: the probe must try every address "localhost" has
  SystemClock clock;
  auto probe = make_probe(tcp_spec("localhost", listener.port()));
  ASSERT_NE(probe, nullptr);
  Observation obs = probe->run(clock);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
}

TEST(TcpProbe, ClosedPortFails) {
  int port = closed_port();
  SystemClock clock;
  // A long timeout, so that "immediate" is told from "timed out" with room
  // to spare on a loaded machine.
  auto probe = make_probe(tcp_spec("127.0.0.1", port, Duration{60'000}));
  ASSERT_NE(probe, nullptr);
  auto started = std::chrono::steady_clock::now();
  Observation obs = probe->run(clock);
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_NE(obs.detail.find(std::to_string(port)), std::string::npos) << obs.detail;
  EXPECT_NE(obs.detail.find("refused"), std::string::npos) << obs.detail;
  EXPECT_LT(seconds_since(started), 30.0);  // a refusal is immediate, not the 60 s timeout
}

TEST(TcpProbe, UnresolvableHostIsError) {
  SystemClock clock;
  auto probe = make_probe(tcp_spec("no-such-host.invalid", 80));
  ASSERT_NE(probe, nullptr);
  Observation obs = probe->run(clock);
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_NE(obs.detail.find("no-such-host.invalid"), std::string::npos) << obs.detail;
}

}  // namespace
}  // namespace dg::test
