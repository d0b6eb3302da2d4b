#include "probes/tcp_probe.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace dg {
namespace {

// A refused or timed-out connect means the target is not accepting: Failed.
// A name that does not resolve means we could not even try: Error.
class TcpProbe final : public Probe {
 public:
  explicit TcpProbe(ProbeSpec spec) : spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    const auto& tcp = std::get<TcpProbeSpec>(spec_.kind);
    Observation obs{.signal = spec_.name, .at = clock.now()};
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + spec_.timeout;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int gai = ::getaddrinfo(tcp.host.c_str(), std::to_string(tcp.port).c_str(), &hints, &res);
    if (gai != 0) {
      obs.outcome = Outcome::Error;
      obs.detail = fmt::format("cannot resolve {}: {}", tcp.host, gai_strerror(gai));
      return obs;
    }
    std::string last_error = "no address";
    bool connected = false;
    for (addrinfo* ai = res; ai != nullptr && !connected; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLOUT, 0};
        int pr;
        do {
          left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
          pr = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
        } while (pr < 0 && errno == EINTR);
        if (pr < 0) {
          last_error = std::strerror(errno);
        } else if (pr == 0) {
          last_error = fmt::format("timeout after {} ms", spec_.timeout.count());
        } else {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err == 0) connected = true;
          else last_error = std::strerror(err);
        }
      } else if (rc == 0) {
        connected = true;
      } else {
        last_error = std::strerror(errno);
      }
      ::close(fd);
    }
    ::freeaddrinfo(res);
    obs.latency = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
    if (connected) {
      obs.outcome = Outcome::Passed;
      obs.detail = fmt::format("connected to {}:{} in {} ms", tcp.host, tcp.port, obs.latency.count());
    } else {
      obs.outcome = Outcome::Failed;
      obs.detail = fmt::format("cannot connect to {}:{}: {}", tcp.host, tcp.port, last_error);
    }
    return obs;
  }

 private:
  ProbeSpec spec_;
};

}  // namespace

std::unique_ptr<Probe> make_tcp_probe(const ProbeSpec& spec) { return std::make_unique<TcpProbe>(spec); }

}  // namespace dg
