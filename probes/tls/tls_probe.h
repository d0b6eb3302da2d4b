#pragma once
/// The `tls` probe: a TLS handshake to host:port (with SNI) through OpenSSL,
/// judged on the certificate chain (system store or a configured CA), the
/// host name, the days left before the leaf expires, the protocol version
/// and the negotiated ALPN protocol.
#include <optional>
#include <string>
#include <vector>

#include "agent/core/observation.h"
#include "probes/probe.h"

namespace dg {

struct TlsProbeSpec {
  std::string host;
  int port = 443;
  std::string server_name;  ///< SNI and the name checked; empty: host
  std::string ca_file;      ///< PEM; empty: the system's trust store
  bool verify_chain = true;
  bool verify_hostname = true;
  std::optional<int> min_days_left;  ///< the leaf must expire later than this
  std::string min_version;           ///< "TLSv1.2" | "TLSv1.3" | ""
  std::vector<std::string> alpn;     ///< offered, in order
  std::string expect_alpn;           ///< the one the server must choose
};

/// What one handshake showed (no I/O past this point).
struct TlsFacts {
  std::optional<std::string> resolve_error;  ///< error: could not even try
  std::optional<std::string> connect_error;  ///< failed, as for a tcp probe
  std::optional<std::string> handshake_error;
  std::string verify_error;  ///< "" when the chain verified
  bool hostname_ok = true;
  std::optional<int> days_left;
  std::string subject, issuer;
  std::string version;  ///< "TLSv1.3"
  std::string alpn;     ///< negotiated, "" when none
  Duration elapsed{0};
};

/// Pure: judges one handshake against the spec.
Observation evaluate_tls(const std::string& probe, const TlsProbeSpec& spec, const TlsFacts& facts, TimePoint at);

/// Performs the handshake (blocking, within `timeout`).
TlsFacts tls_handshake(const TlsProbeSpec& spec, Duration timeout);

std::unique_ptr<Probe> make_tls_probe(std::string name, Duration timeout, TlsProbeSpec spec);
/// Registers the `tls` type with its config decoder (tls_config.cpp).
void register_tls_probe(ProbeRegistry& registry);

}  // namespace dg
