#pragma once
/// Runtime: the live objects (probes, flag providers, rollbacks, incident
/// sinks) built from a validated Config through the registries of built-in
/// implementations.
#include <map>
#include <memory>
#include <string>

#include "agent/config/config.h"
#include "agent/incidents/incident.h"
#include "agent/rollback/rollback_action.h"
#include "flags/flag_provider.h"
#include "probes/metrics/metric_source.h"
#include "probes/probe.h"

namespace dg {

struct Runtime {
  std::map<std::string, std::unique_ptr<Probe>> probes;
  std::map<std::string, std::unique_ptr<FlagProvider>> flag_providers;
  std::map<std::string, std::unique_ptr<RollbackAction>> rollbacks;
  std::map<std::string, std::unique_ptr<IncidentSink>> sinks;
  std::map<std::string, std::unique_ptr<MetricSource>> metric_sources;

  std::map<std::string, IncidentSink*> sink_pointers() const;
};

Result<Runtime> build_runtime(const Config& config);

/// Checks that need the live objects, before anything is judged: every flag a
/// ladder would flip exists with the variant it names, and the bake is long
/// enough for min_observations. Returns the problems (empty when fine).
std::vector<std::string> preflight(const Config& config, Runtime& runtime, Duration bake);

}  // namespace dg
