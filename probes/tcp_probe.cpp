#include "probes/tcp_probe.h"

#include "agent/config/reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

namespace dg {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// One asynchronous run: resolve (skipped for an address), connect to each
// address in turn, all within the probe's timeout. Handlers share it.
struct TcpAttempt {
  TcpAttempt(asio::io_context& loop, Duration timeout)
      : resolver(loop), socket(loop), timer(loop), timeout(timeout) {}
  asio::ip::tcp::resolver resolver;
  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  Duration timeout;
  bool timed_out = false;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  Observation obs;
  std::function<void(Observation)> done;
};

// Outcomes and details as in run(): what the connect says is Failed, a name
// that does not resolve is Error.
void connect_async(const std::shared_ptr<TcpAttempt>& a, const TcpProbeSpec& tcp,
                   const asio::ip::tcp::resolver::results_type& addresses) {
  asio::async_connect(a->socket, addresses, [a, tcp](error_code ec, const asio::ip::tcp::endpoint&) {
    a->timer.cancel();
    a->obs.latency = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - a->started);
    if (!ec) {
      a->obs.outcome = Outcome::Passed;
      a->obs.detail = fmt::format("connected to {}:{} in {} ms", tcp.host, tcp.port, a->obs.latency.count());
    } else {
      std::string why = a->timed_out ? fmt::format("timeout after {} ms", a->timeout.count()) : ec.message();
      a->obs.outcome = Outcome::Failed;
      a->obs.detail = fmt::format("cannot connect to {}:{}: {}", tcp.host, tcp.port, why);
    }
    a->socket.close(ec);
    a->done(std::move(a->obs));
  });
}

// A refused or timed-out connect means the target is not accepting: Failed.
// A name that does not resolve means we could not even try: Error.
class TcpProbe final : public Probe {
 public:
  explicit TcpProbe(ProbeSpec spec) : spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    const auto& tcp = spec_.kind.as<TcpProbeSpec>();
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

  void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) override {
    const auto& tcp = spec_.kind.as<TcpProbeSpec>();
    auto a = std::make_shared<TcpAttempt>(io.loop, spec_.timeout);
    a->obs = Observation{.signal = spec_.name, .at = clock.now()};
    a->done = std::move(done);
    a->timer.expires_after(spec_.timeout);
    a->timer.async_wait([a](error_code ec) {
      if (ec) return;  // cancelled: the connect finished first
      a->timed_out = true;
      a->resolver.cancel();
      error_code ignored;
      a->socket.close(ignored);  // the pending connect ends with operation_aborted
    });
    error_code ec;
    auto address = asio::ip::make_address(tcp.host, ec);
    if (!ec) {
      // An address: no resolver thread involved.
      auto addresses = asio::ip::tcp::resolver::results_type::create(
          asio::ip::tcp::endpoint(address, static_cast<unsigned short>(tcp.port)), tcp.host, std::to_string(tcp.port));
      connect_async(a, tcp, addresses);
      return;
    }
    a->resolver.async_resolve(tcp.host, std::to_string(tcp.port),
                              [a, tcp](error_code ec, asio::ip::tcp::resolver::results_type addresses) {
                                if (ec && !a->timed_out) {
                                  a->timer.cancel();
                                  a->obs.outcome = Outcome::Error;
                                  a->obs.detail = fmt::format("cannot resolve {}: {}", tcp.host, ec.message());
                                  a->done(std::move(a->obs));
                                  return;
                                }
                                connect_async(a, tcp, addresses);  // timed out: ends at once, as a timeout
                              });
  }

 private:
  ProbeSpec spec_;
};

}  // namespace

std::unique_ptr<Probe> make_tcp_probe(const ProbeSpec& spec) { return std::make_unique<TcpProbe>(spec); }

namespace {

void decode_tcp_probe(ConfigReader& r, ProbeSpec& spec) {
  TcpProbeSpec t;
  if (auto v = r.str("host", true, "a host name or address")) t.host = *v;
  if (auto v = r.integer("port", 1, 65535, true)) t.port = static_cast<int>(*v);
  spec.kind = std::move(t);
}

}  // namespace

void register_tcp_probe(ProbeRegistry& registry) {
  registry.add("tcp", [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> { return make_tcp_probe(spec); },
               decode_tcp_probe);
}

}  // namespace dg
