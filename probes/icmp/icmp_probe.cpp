#include "probes/icmp/icmp_probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "agent/core/text.h"

namespace dg {
namespace {

using Steady = std::chrono::steady_clock;

uint16_t checksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

std::string ping_group_range() {
  std::ifstream in("/proc/sys/net/ipv4/ping_group_range");
  std::string a, b;
  in >> a >> b;
  return a.empty() ? "unknown" : a + " " + b;
}

class IcmpProbe final : public Probe {
 public:
  IcmpProbe(std::string name, Duration timeout, IcmpProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_icmp(name_, spec_, icmp_ping(spec_, timeout_), at);
  }

 private:
  std::string name_;
  Duration timeout_;
  IcmpProbeSpec spec_;
};

}  // namespace

IcmpFacts icmp_ping(const IcmpProbeSpec& spec, Duration timeout) {
  IcmpFacts f;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (int gai = ::getaddrinfo(spec.host.c_str(), nullptr, &hints, &res); gai != 0) {
    f.error = fmt::format("cannot resolve {}: {}", spec.host, gai_strerror(gai));
    return f;
  }
  sockaddr_in to = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);

  int fd = -1;
  int dgram_errno = 0, raw_errno = 0;
  if (spec.socket != "raw") {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd >= 0) f.socket_kind = "dgram";
    else dgram_errno = errno;
  }
  if (fd < 0 && spec.socket != "dgram") {
    fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd >= 0) f.socket_kind = "raw";
    else raw_errno = errno;
  }
  if (fd < 0) {
    f.error = fmt::format(
        "cannot open an ICMP socket: unprivileged ping is not allowed for this group (net.ipv4.ping_group_range is "
        "\"{}\"{}) and a raw socket needs root or CAP_NET_RAW{}; allow one with `sysctl -w "
        "net.ipv4.ping_group_range=\"0 2147483647\"` or `setcap cap_net_raw+ep` on the binary "
        "(AmbientCapabilities=CAP_NET_RAW under systemd)",
        ping_group_range(), dgram_errno ? std::string(": ") + std::strerror(dgram_errno) : "",
        raw_errno ? std::string(" (") + std::strerror(raw_errno) + ")" : "");
    return f;
  }
  const bool raw = f.socket_kind == "raw";
  // The kernel picks the id of a ping socket (its "port"); on a raw socket
  // it is ours to pick and to filter on.
  const uint16_t id = static_cast<uint16_t>(::getpid() ^ reinterpret_cast<uintptr_t>(&f));
  auto started = Steady::now();
  auto deadline = started + timeout;
  std::vector<Steady::time_point> sent_at(static_cast<size_t>(spec.count));
  std::vector<bool> got(static_cast<size_t>(spec.count), false);
  std::chrono::microseconds total{0};
  auto next_send = started;
  int next_seq = 0;
  while (Steady::now() < deadline && f.received < spec.count) {
    auto now = Steady::now();
    if (next_seq < spec.count && now >= next_send) {
      struct {
        icmphdr h;
        char payload[16];
      } pkt{};
      pkt.h.type = ICMP_ECHO;
      pkt.h.un.echo.id = htons(id);
      pkt.h.un.echo.sequence = htons(static_cast<uint16_t>(next_seq));
      std::memcpy(pkt.payload, "deployguard-icmp", 16);
      pkt.h.checksum = checksum(&pkt, sizeof pkt);
      sent_at[static_cast<size_t>(next_seq)] = now;
      if (::sendto(fd, &pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) ++f.sent;
      ++next_seq;
      next_send = now + spec.interval;
    }
    auto wake = next_seq < spec.count ? std::min(next_send, deadline) : deadline;
    int wait_ms = static_cast<int>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - Steady::now()).count()));
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) continue;
    char buf[1500];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) continue;
    const char* icmp = buf;
    if (raw) {
      // A raw socket hands us the IP header too, and every ICMP message the
      // host receives (our own echo requests on loopback among them).
      size_t ihl = static_cast<size_t>(reinterpret_cast<const iphdr*>(buf)->ihl) * 4;
      if (static_cast<size_t>(n) < ihl + sizeof(icmphdr)) continue;
      icmp = buf + ihl;
    } else if (static_cast<size_t>(n) < sizeof(icmphdr)) {
      continue;
    }
    icmphdr h;
    std::memcpy(&h, icmp, sizeof h);
    if (h.type != ICMP_ECHOREPLY || (raw && ntohs(h.un.echo.id) != id)) continue;
    int seq = ntohs(h.un.echo.sequence);
    if (seq < 0 || seq >= next_seq || got[static_cast<size_t>(seq)]) continue;
    got[static_cast<size_t>(seq)] = true;
    ++f.received;
    auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - sent_at[static_cast<size_t>(seq)]);
    total += rtt;
    auto ms = std::chrono::duration_cast<Duration>(rtt);
    if (!f.rtt_max || ms > *f.rtt_max) f.rtt_max = ms;
  }
  ::close(fd);
  if (f.received > 0) f.rtt_avg = total / f.received;
  return f;
}

Observation evaluate_icmp(const std::string& probe, const IcmpProbeSpec& spec, const IcmpFacts& f, TimePoint at) {
  Observation obs{.signal = probe, .at = at, .latency = f.rtt_max.value_or(Duration{0})};
  if (f.error) {
    obs.outcome = Outcome::Error;
    obs.detail = *f.error;
    return obs;
  }
  if (f.sent == 0) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("could not send an echo request to {}", spec.host);
    return obs;
  }
  double loss = 100.0 * (f.sent - f.received) / f.sent;
  std::vector<std::string> failures;
  if (loss > spec.max_loss_percent)
    failures.push_back(fmt::format("{:.0f} % loss ({} of {} replies; max_loss {:g} %)", loss, f.received, f.sent,
                                   spec.max_loss_percent));
  if (spec.max_rtt && f.rtt_max && *f.rtt_max > *spec.max_rtt)
    failures.push_back(fmt::format("round trip {} ms above max_rtt {} ms", f.rtt_max->count(), spec.max_rtt->count()));
  std::string summary = fmt::format("{}/{} replies from {}, rtt avg {:.2f} ms max {} ms ({} socket)", f.received, f.sent,
                                    spec.host, f.rtt_avg.count() / 1000.0, f.rtt_max.value_or(Duration{0}).count(),
                                    f.socket_kind);
  obs.outcome = failures.empty() ? Outcome::Passed : Outcome::Failed;
  obs.detail = failures.empty() ? summary : fmt::format("{}: {}", spec.host, text::join(failures, "; "));
  if (!failures.empty()) obs.excerpt = summary;
  return obs;
}

std::unique_ptr<Probe> make_icmp_probe(std::string name, Duration timeout, IcmpProbeSpec spec) {
  return std::make_unique<IcmpProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
