#include "probes/tls/tls_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "agent/core/text.h"

namespace dg {
namespace {

using Steady = std::chrono::steady_clock;

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "handshake failed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int version_rank(const std::string& v) {
  if (v == "TLSv1") return 10;
  if (v == "TLSv1.1") return 11;
  if (v == "TLSv1.2") return 12;
  if (v == "TLSv1.3") return 13;
  return 0;
}

// Waits for `events` on fd until the deadline: false on timeout.
bool wait_for(int fd, short events, Steady::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A connected non-blocking socket, or why not.
int connect_to(const TlsProbeSpec& spec, Steady::time_point deadline, TlsFacts& f) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = ::getaddrinfo(spec.host.c_str(), std::to_string(spec.port).c_str(), &hints, &res);
  if (gai != 0) {
    f.resolve_error = fmt::format("cannot resolve {}: {}", spec.host, gai_strerror(gai));
    return -1;
  }
  std::string last = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) continue;
    int rc = ::connect(s, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!wait_for(s, POLLOUT, deadline)) {
        last = "timeout";
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) rc = 0;
        else last = std::strerror(err);
      }
    } else if (rc != 0) {
      last = std::strerror(errno);
    }
    if (rc == 0) fd = s;
    else ::close(s);
  }
  ::freeaddrinfo(res);
  if (fd < 0) f.connect_error = fmt::format("cannot connect to {}:{}: {}", spec.host, spec.port, last);
  return fd;
}

std::string name_of(X509_NAME* n) {
  if (!n) return "";
  char buf[512];
  X509_NAME_oneline(n, buf, sizeof buf);
  return buf;
}

class TlsProbe final : public Probe {
 public:
  TlsProbe(std::string name, Duration timeout, TlsProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_tls(name_, spec_, tls_handshake(spec_, timeout_), at);
  }

 private:
  std::string name_;
  Duration timeout_;
  TlsProbeSpec spec_;
};

}  // namespace

TlsFacts tls_handshake(const TlsProbeSpec& spec, Duration timeout) {
  TlsFacts f;
  auto started = Steady::now();
  auto deadline = started + timeout;
  auto finish = [&] {
    f.elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started);
    return f;
  };
  int fd = connect_to(spec, deadline, f);
  if (fd < 0) return finish();
  const std::string sni = spec.server_name.empty() ? spec.host : spec.server_name;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  auto cleanup = [&] {
    if (ssl) SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
  };
  // The chain is verified after the handshake, not inside it: a bad
  // certificate is then a finding with its reason, not an aborted handshake.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (!spec.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, spec.ca_file.c_str(), nullptr) != 1) {
      f.resolve_error = fmt::format("cannot load ca_file {}: {}", spec.ca_file, ssl_error());
      cleanup();
      return finish();
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (spec.verify_hostname) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, sni.c_str(), 0);
  }
  if (!spec.alpn.empty()) {
    std::string wire;
    for (const auto& p : spec.alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  for (;;) {
    int r = SSL_connect(ssl);
    if (r == 1) break;
    int e = SSL_get_error(ssl, r);
    if ((e == SSL_ERROR_WANT_READ && wait_for(fd, POLLIN, deadline)) ||
        (e == SSL_ERROR_WANT_WRITE && wait_for(fd, POLLOUT, deadline)))
      continue;
    f.handshake_error = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                            ? fmt::format("no handshake within {} ms", timeout.count())
                            : ssl_error();
    cleanup();
    return finish();
  }
  f.version = SSL_get_version(ssl);
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  if (proto) f.alpn.assign(reinterpret_cast<const char*>(proto), len);
  long vr = SSL_get_verify_result(ssl);
  X509* leaf = SSL_get1_peer_certificate(ssl);
  if (!leaf) {
    f.verify_error = "no certificate";
  } else {
    f.subject = name_of(X509_get_subject_name(leaf));
    f.issuer = name_of(X509_get_issuer_name(leaf));
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(leaf))) f.days_left = days;
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH) {
      f.hostname_ok = false;
      // Whether the chain itself is good, asked again without the name.
    } else if (vr != X509_V_OK) {
      f.verify_error = X509_verify_cert_error_string(vr);
    }
    if (spec.verify_hostname && f.hostname_ok) f.hostname_ok = X509_check_host(leaf, sni.c_str(), 0, 0, nullptr) == 1;
    X509_free(leaf);
  }
  SSL_shutdown(ssl);
  cleanup();
  return finish();
}

Observation evaluate_tls(const std::string& probe, const TlsProbeSpec& spec, const TlsFacts& f, TimePoint at) {
  Observation obs{.signal = probe, .at = at, .latency = f.elapsed};
  std::string where = fmt::format("{}:{}", spec.host, spec.port);
  if (f.resolve_error) {
    obs.outcome = Outcome::Error;
    obs.detail = *f.resolve_error;
    return obs;
  }
  if (f.connect_error || f.handshake_error) {
    obs.outcome = Outcome::Failed;
    obs.detail = f.connect_error ? *f.connect_error : fmt::format("TLS handshake with {} failed: {}", where, *f.handshake_error);
    return obs;
  }
  std::vector<std::string> failures;
  if (spec.verify_chain && !f.verify_error.empty())
    failures.push_back(fmt::format("certificate chain not valid: {}", f.verify_error));
  if (spec.verify_hostname && !f.hostname_ok)
    failures.push_back(fmt::format("certificate does not match {}",
                                   spec.server_name.empty() ? spec.host : spec.server_name));
  if (spec.min_days_left && f.days_left && *f.days_left < *spec.min_days_left)
    failures.push_back(fmt::format("certificate expires in {} day(s) (min_days_left {})", *f.days_left, *spec.min_days_left));
  if (!spec.min_version.empty() && version_rank(f.version) < version_rank(spec.min_version))
    failures.push_back(fmt::format("negotiated {} (min_version {})", f.version, spec.min_version));
  if (!spec.expect_alpn.empty() && f.alpn != spec.expect_alpn)
    failures.push_back(fmt::format("ALPN {} (expected {})", f.alpn.empty() ? "none" : f.alpn, spec.expect_alpn));
  std::string info = fmt::format("{}, {} day(s) left, subject {}", f.version, f.days_left.value_or(-1), f.subject);
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("handshake with {} in {} ms: {}", where, f.elapsed.count(), info);
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = text::join(failures, "; ");
    obs.excerpt = fmt::format("{}; issuer {}", info, f.issuer);
  }
  return obs;
}

std::unique_ptr<Probe> make_tls_probe(std::string name, Duration timeout, TlsProbeSpec spec) {
  return std::make_unique<TlsProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
