// The icmp probe's keys and registration.
#include "agent/config/reader.h"
#include "probes/icmp/icmp_probe.h"

namespace dg {
namespace {

void decode_icmp_probe(ConfigReader& r, ProbeSpec& spec) {
  IcmpProbeSpec p;
  if (auto v = r.str("host", true, "an IPv4 host name or address")) p.host = *v;
  if (auto v = r.integer("count", 1, 100)) p.count = static_cast<int>(*v);
  if (auto v = r.duration("packet_interval", Duration{1})) p.interval = *v;
  static const std::vector<std::string> kinds{"auto", "dgram", "raw"};
  if (auto v = r.choice("socket", kinds)) p.socket = kinds[*v];
  r.with_table("expect", [&](ConfigReader& er) {
    if (auto v = er.number("max_loss_percent")) {
      if (*v < 0 || *v > 100) er.error("max_loss_percent", "must be between 0 and 100");
      p.max_loss_percent = *v;
    }
    if (auto v = er.duration("max_rtt")) p.max_rtt = *v;
  });
  spec.kind = std::move(p);
}

}  // namespace

void register_icmp_probe(ProbeRegistry& registry) {
  registry.add(
      "icmp",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_icmp_probe(spec.name, spec.timeout, spec.kind.as<IcmpProbeSpec>());
      },
      decode_icmp_probe);
}

}  // namespace dg
