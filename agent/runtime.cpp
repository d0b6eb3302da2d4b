#include "agent/runtime.h"

namespace dg {
namespace {

template <class Registry, class Specs, class Out>
Result<void> build_all(const Registry& registry, const Specs& specs, Out& out) {
  for (const auto& spec : specs) {
    auto made = registry.make(spec);
    if (!made) return std::unexpected(made.error());
    out[spec.name] = std::move(*made);
  }
  return {};
}

}  // namespace

std::map<std::string, IncidentSink*> Runtime::sink_pointers() const {
  std::map<std::string, IncidentSink*> out;
  for (const auto& [name, sink] : sinks) out[name] = sink.get();
  return out;
}

Result<Runtime> build_runtime(const Config& config) {
  ProbeRegistry probes;
  register_builtin_probes(probes);
  FlagProviderRegistry flags;
  register_builtin_flag_providers(flags);
  RollbackRegistry rollbacks;
  register_builtin_rollbacks(rollbacks);
  IncidentSinkRegistry sinks;
  register_builtin_incident_sinks(sinks);

  Runtime rt;
  if (auto r = build_all(probes, config.probes, rt.probes); !r) return std::unexpected(r.error());
  if (auto r = build_all(flags, config.flag_providers, rt.flag_providers); !r) return std::unexpected(r.error());
  if (auto r = build_all(rollbacks, config.rollbacks, rt.rollbacks); !r) return std::unexpected(r.error());
  if (auto r = build_all(sinks, config.incident_sinks, rt.sinks); !r) return std::unexpected(r.error());
  return rt;
}

}  // namespace dg
