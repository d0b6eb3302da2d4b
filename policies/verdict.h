#pragma once
/// The evaluator's vocabulary: verdict states and evaluation phases.
namespace dg {

enum class VerdictState { Healthy, Tripped, Inconclusive };
const char* to_string(VerdictState s);

enum class Phase {
  Ongoing,  ///< mid-bake: too few observations is not yet a verdict
  Final,    ///< end of bake: too few observations is inconclusive, never healthy
};

enum class RecoveryState { Recovered, StillFailing, Pending };
const char* to_string(RecoveryState s);

}  // namespace dg
