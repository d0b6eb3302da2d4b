#pragma once
/// The policy evaluator is pure: it takes already-collected observations and
/// returns a labelled verdict with reasons. It does no I/O and keeps no state,
/// so the same code serves one bake (verify) and a watcher running forever.
#include <map>
#include <string>
#include <vector>

#include "agent/core/observation.h"
#include "policies/policy_spec.h"

namespace dg {

/// Observations per probe name, oldest first.
using History = std::map<std::string, std::vector<Observation>>;

enum class VerdictState { Healthy, Tripped, Inconclusive };
const char* to_string(VerdictState s);

struct Verdict {
  VerdictState state = VerdictState::Healthy;
  std::vector<std::string> reasons;
  std::vector<Observation> evidence;  ///< the observations the verdict rests on
  std::string probe;                  ///< the deciding probe, when one decided
  TimePoint since{};                  ///< first observation of the deciding streak
};

enum class Phase {
  Ongoing,  ///< mid-bake: too few observations is not yet a verdict
  Final,    ///< end of bake: too few observations is inconclusive, never healthy
};

Verdict evaluate(const PolicySpec& policy, const History& history, Phase phase);

enum class RecoveryState { Recovered, StillFailing, Pending };
const char* to_string(RecoveryState s);

struct Recovery {
  RecoveryState state = RecoveryState::Pending;
  std::vector<std::string> reasons;
  std::vector<Observation> evidence;
};

/// Judges observations taken after a mitigation. `fresh` must hold only those.
Recovery evaluate_recovery(const PolicySpec& policy, const History& fresh);

}  // namespace dg
