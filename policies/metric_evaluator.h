#pragma once
/// Pure judgement of metric conditions over their readings: thresholds held
/// for a duration, increase over the pre-release baseline, and canary versus
/// baseline error rates with an anytime-valid sequential test and confidence
/// bound (policies/canary_test.h). Missing data is
/// never health: it is judged by the condition's on_no_data.
#include <map>
#include <string>
#include <vector>

#include "agent/core/metric_reading.h"
#include "policies/policy_spec.h"
#include "policies/verdict.h"

namespace dg {


/// Readings per condition id, oldest first. A baseline condition's pre-release
/// reading is stored under "<id>#baseline".
using MetricHistory = std::map<std::string, std::vector<MetricReading>>;

struct ConditionVerdict {
  VerdictState state;
  std::string reason;
  std::vector<MetricReading> evidence;
  TimePoint since{};
  std::map<std::string, double> stats;  ///< numbers behind the verdict (values, counts, statistic, threshold)
};

ConditionVerdict evaluate_condition(const MetricCondition& c, const MetricHistory& history, Phase phase);

/// After a mitigation: recovered when the newest `passes` usable readings are
/// all within bounds; still failing when the condition trips again.
RecoveryState condition_recovery(const MetricCondition& c, const MetricHistory& fresh, int passes, std::string& reason);

}  // namespace dg
