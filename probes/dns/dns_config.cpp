// The dns probe's keys and registration.
#include <fmt/format.h>

#include "agent/config/reader.h"
#include "probes/dns/dns_probe.h"

namespace dg {
namespace {

void decode_dns_probe(ConfigReader& r, ProbeSpec& spec) {
  DnsProbeSpec d;
  if (auto v = r.str("name", true, "the name to query")) d.name = *v;
  static const std::vector<std::string> types{"A", "AAAA", "CNAME", "TXT", "MX", "SRV"};
  if (auto v = r.choice("record_type", types)) d.type = types[*v];
  if (auto v = r.str("server")) d.server = *v;
  if (auto v = r.integer("port", 1, 65535)) d.port = static_cast<int>(*v);
  if (auto v = r.boolean("tcp")) d.tcp = *v;
  r.with_table("expect", [&](ConfigReader& er) {
    static const std::vector<std::string> rcodes{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED"};
    if (auto v = er.choice("rcode", rcodes)) d.expect_rcode = rcodes[*v];
    if (auto v = er.strings("answers_contain")) d.answers_contain = *v;
    if (auto v = er.strings("answers_equal", false, false)) d.answers_equal = *v;
    if (auto v = er.str("answers_match")) {
      if (auto re = Regex::compile(*v)) {
        d.answers_regex = *re;
        d.answers_regex_text = *v;
      } else {
        er.error("answers_match", fmt::format("invalid regex /{}/: {}", *v, re.error().message));
      }
    }
    if (auto v = er.integer("min_answers", 0, 1000)) d.min_answers = static_cast<int>(*v);
    if (auto v = er.duration("max_latency")) d.max_latency = *v;
  });
  spec.kind = std::move(d);
}

}  // namespace

void register_dns_probe(ProbeRegistry& registry) {
  registry.add(
      "dns",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_dns_probe(spec.name, spec.timeout, spec.kind.as<DnsProbeSpec>());
      },
      decode_dns_probe);
}

}  // namespace dg
