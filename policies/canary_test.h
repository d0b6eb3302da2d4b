#pragma once
/// The canary test as an incremental fold: valid whatever the traffic split
/// does between looks, so a watcher can run it forever on bounded memory.
///
/// Each look contributes what both arms counted since the previous look.
/// Conditional on the errors of that interval, each error is the canary's
/// with probability theta(r) = r*dn1/(r*dn1+dn0) when the canary fails r
/// times as often as the baseline. The state keeps, for every ratio r of a
/// fixed grid, the log of that conditional likelihood summed over intervals.
/// For any two ratios, the difference is the log of a product of per-interval
/// likelihood ratios: a non-negative martingale under the null ratio however
/// the split changes, so a fixed mixture over alternatives reaches 1/alpha
/// with probability at most alpha however often anyone looks (Ville).
///   trip:    ratio 1 rejected against ratios above it (the canary is worse);
///   healthy: every grid ratio >= max_ratio rejected against ratios below it,
///            i.e. the anytime-valid upper confidence bound is <= max_ratio.
#include <optional>
#include <vector>

#include "agent/core/metric_reading.h"

namespace dg {

/// What each arm counted: cumulative, or in one interval.
struct ArmCounts {
  double canary_errors = 0, canary_total = 0, baseline_errors = 0, baseline_total = 0;
  ArmCounts& operator+=(const ArmCounts& o);
};

struct CanaryState {
  double max_ratio = 3;
  std::vector<double> ratios;  ///< the grid, ascending; holds 1 and max_ratio
  std::vector<double> loglik;  ///< per ratio, up to a common constant
  ArmCounts counted;           ///< cumulative per arm
  ArmCounts pending;           ///< counted while one arm had no traffic: folded into the next interval
};

/// A state with nothing counted, for a condition's max_ratio (> 1).
CanaryState canary_start(double max_ratio);

/// Folds one interval's increments (each >= 0). Pure.
CanaryState canary_fold(CanaryState s, const ArmCounts& increment);

struct CanaryJudgement {
  double log_lr = 0;          ///< trip mixture against ratio 1
  double log_threshold = 0;   ///< log(1/alpha)
  bool regression = false;    ///< log_lr >= log_threshold: trip
  double healthy_log_lr = 0;  ///< mixture of ratios below max_ratio against max_ratio
  std::optional<double> upper_bound;  ///< smallest grid ratio with it and all above excluded; none yet
  bool below_max = false;     ///< upper_bound <= max_ratio
  double canary_rate = 0, baseline_rate = 0;
  /// More requests each arm needs, at the current split and pooled error rate,
  /// for below_max if the canary fails no more often than the baseline from now on.
  double need_canary = 0, need_baseline = 0;
};

/// The verdict's numbers from a state. Pure.
CanaryJudgement canary_judge(const CanaryState& s, double alpha);

/// The series of a canary reading: the four cumulative arm counts (labels
/// {arm=canary|baseline, kind=errors|total}) and the state (labels
/// {canary_loglik=<ratio>} and {canary_pending=<arm>/<kind>}), so the pure
/// evaluator judges the driver's fold from the reading alone.
std::vector<SeriesValue> canary_series(const CanaryState& s);
/// True for the state series of canary_series (left out of evidence).
bool is_canary_state_series(const SeriesValue& v);
/// The arm counts of a reading's series; an absent arm counts 0.
ArmCounts canary_counts_of(const std::vector<SeriesValue>& series);
/// The state a reading carries for max_ratio; nullopt when it carries none
/// (or one for another max_ratio).
std::optional<CanaryState> canary_state_of(const std::vector<SeriesValue>& series, double max_ratio);

}  // namespace dg
