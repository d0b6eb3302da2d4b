// The grpc probe's keys and registration.
#include "agent/config/reader.h"
#include "probes/grpc/grpc_probe.h"

namespace dg {
namespace {

void decode_grpc_probe(ConfigReader& r, ProbeSpec& spec) {
  GrpcProbeSpec g;
  if (auto v = r.str("target", true, "host:port")) {
    if (v->find(':') == std::string::npos) r.error("target", "expected host:port (e.g. \"127.0.0.1:50051\")");
    g.target = *v;
  }
  if (auto v = r.boolean("tls")) g.tls = *v;
  if (auto v = r.boolean("tls_verify")) g.verify_tls = *v;
  if (auto v = r.str("service")) g.service = *v;
  g.metadata = r.string_map("metadata", true);
  r.with_table("expect", [&](ConfigReader& er) {
    static const std::vector<std::string> statuses{"SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN"};
    if (auto v = er.choice("status", statuses)) g.expect_status = statuses[*v];
  });
  spec.kind = std::move(g);
}

}  // namespace

void register_grpc_probe(ProbeRegistry& registry) {
  registry.add(
      "grpc",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_grpc_probe(spec.name, spec.timeout, spec.kind.as<GrpcProbeSpec>());
      },
      decode_grpc_probe);
}

}  // namespace dg
