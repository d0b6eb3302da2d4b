#include "agent/runtime.h"

#include "logs/log_signal.h"

#include <fmt/format.h>

#include "agent/core/duration.h"
#include "agent/core/json_text.h"

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
  Runtime rt;
  if (auto r = build_all(builtin_probes(), config.probes, rt.probes); !r) return std::unexpected(r.error());
  if (auto r = build_all(builtin_flag_providers(), config.flag_providers, rt.flag_providers); !r)
    return std::unexpected(r.error());
  if (auto r = build_all(builtin_rollbacks(), config.rollbacks, rt.rollbacks); !r) return std::unexpected(r.error());
  if (auto r = build_all(builtin_incident_sinks(), config.incident_sinks, rt.sinks); !r) return std::unexpected(r.error());
  if (auto r = build_all(builtin_metric_sources(), config.metric_sources, rt.metric_sources); !r)
    return std::unexpected(r.error());
  // Log conditions are read like metric conditions, from "log:NAME".
  logs::add_log_signal_sources(config.log_sources, config.policies, rt.metric_sources);
  return rt;
}

std::vector<std::string> preflight(const Config& config, Runtime& runtime, Duration bake) {
  std::vector<std::string> problems;
  for (const auto& p : config.policies) {
    for (const auto& a : p.actions) {
      const auto* f = std::get_if<FlagActionSpec>(&a.kind);
      if (!f) continue;
      auto snap = runtime.flag_providers.at(f->provider)->read(f->flag);
      if (!snap) {
        problems.push_back(fmt::format("policy {}: flag provider {}: {}", p.name, f->provider, snap.error().message));
        continue;
      }
      auto state = parse_json(snap->state_json);
      if (!state || !state->is_object()) {
        problems.push_back(fmt::format("policy {}: flag {} does not exist in flag provider {}", p.name, f->flag, f->provider));
        continue;
      }
      const auto* variants = state->as_object().if_contains("variants");
      if (variants && variants->is_object() && !variants->as_object().contains(f->variant)) {
        std::string known;
        for (const auto& kv : variants->as_object()) known += (known.empty() ? "" : ", ") + std::string(kv.key());
        problems.push_back(fmt::format("policy {}: flag {} has no variant \"{}\" (variants: {})", p.name, f->flag,
                                       f->variant, known));
      }
    }
    Duration slowest{0};
    for (const auto& name : p.probes)
      if (const ProbeSpec* probe = config.probe(name)) slowest = std::max(slowest, probe->interval);
    if (!p.probes.empty() && bake < slowest * (std::max(1, p.min_observations) - 1))
      problems.push_back(fmt::format("policy {}: a bake of {} cannot reach min_observations = {} at a probe interval of {}",
                                     p.name, format_duration(bake), p.min_observations, format_duration(slowest)));
  }
  return problems;
}

}  // namespace dg
