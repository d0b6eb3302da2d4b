// The tls probe's keys and registration.
#include "agent/config/reader.h"
#include "probes/tls/tls_probe.h"

namespace dg {
namespace {

void decode_tls_probe(ConfigReader& r, ProbeSpec& spec) {
  TlsProbeSpec t;
  if (auto v = r.str("host", true, "a host name or address")) t.host = *v;
  if (auto v = r.integer("port", 1, 65535)) t.port = static_cast<int>(*v);
  if (auto v = r.str("server_name")) t.server_name = *v;
  if (auto v = r.path("ca_file")) t.ca_file = *v;
  if (auto v = r.boolean("verify_chain")) t.verify_chain = *v;
  if (auto v = r.boolean("verify_hostname")) t.verify_hostname = *v;
  if (auto v = r.strings("alpn", false, false)) t.alpn = *v;
  r.with_table("expect", [&](ConfigReader& er) {
    if (auto v = er.integer("min_days_left", 0, 100000)) t.min_days_left = static_cast<int>(*v);
    static const std::vector<std::string> versions{"TLSv1.2", "TLSv1.3"};
    if (auto v = er.choice("min_version", versions)) t.min_version = versions[*v];
    if (auto v = er.str("alpn")) t.expect_alpn = *v;
  });
  if (!t.expect_alpn.empty() && t.alpn.empty()) t.alpn = {t.expect_alpn};
  spec.kind = std::move(t);
}

}  // namespace

void register_tls_probe(ProbeRegistry& registry) {
  registry.add(
      "tls",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_tls_probe(spec.name, spec.timeout, spec.kind.as<TlsProbeSpec>());
      },
      decode_tls_probe);
}

}  // namespace dg
