#pragma once
/// The policy evaluator is pure: it takes already-collected observations and
/// returns a labelled verdict with reasons. It does no I/O and keeps no state,
/// so the same code serves one bake (verify) and a watcher running forever.
#include <map>
#include <string>
#include <vector>

#include "agent/core/observation.h"
#include "policies/metric_evaluator.h"
#include "policies/policy_spec.h"
#include "policies/verdict.h"

namespace dg {

/// Observations per probe name, oldest first.
using History = std::map<std::string, std::vector<Observation>>;


struct Verdict {
  VerdictState state = VerdictState::Healthy;
  std::vector<std::string> reasons;
  std::vector<Observation> evidence;  ///< the observations the verdict rests on
  std::vector<MetricReading> metric_evidence;
  std::map<std::string, double> stats;  ///< numbers behind a metric verdict
  std::string probe;                  ///< the deciding probe or metric condition
  TimePoint since{};                  ///< first observation of the deciding streak
};

/// Judges the policy: its probe rules (if it lists probes) and each metric
/// condition, combined by `combine` (any: one trip trips; all: every part must).
Verdict evaluate(const PolicySpec& policy, const History& history, Phase phase, const MetricHistory& metrics = {});

struct Recovery {
  RecoveryState state = RecoveryState::Pending;
  std::vector<std::string> reasons;
  std::vector<Observation> evidence;
};

/// Judges observations taken after a mitigation. `fresh` must hold only those.
Recovery evaluate_recovery(const PolicySpec& policy, const History& fresh, const MetricHistory& fresh_metrics = {});

}  // namespace dg
