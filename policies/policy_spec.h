#pragma once
/// Typed, validated policy definitions: when a policy trips, how it judges
/// recovery, and its remediation ladder.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/metric_reading.h"
#include "agent/core/settings.h"

namespace dg {

/// Flip a flag to a variant, for everyone or only for a segment.
struct FlagActionSpec {
  std::string provider;
  std::string flag;
  std::string variant = "off";
  std::string segment;            ///< as written, e.g. "pluginCount == 0"; empty = everyone
  std::string segment_jsonlogic;  ///< the segment compiled to JsonLogic (JSON text)
};

/// Run a named rollback action.
struct RollbackActionSpec {
  std::string rollback;
  /// The veto window: the rollback waits this long for a human to approve
  /// (run now) or veto (skip) it; silence runs it. Unset: it runs at once.
  std::optional<Duration> confirm_within;
};

struct ActionSpec {
  std::string type;  ///< "flag" | "rollback"
  std::variant<FlagActionSpec, RollbackActionSpec> kind;
  std::string describe() const;
};

enum class OnErrors { Inconclusive, Trip };
enum class OnNoData { Inconclusive, Trip, Ignore };

/// A condition over a metric source, judged on its readings.
struct MetricCondition {
  std::string id;      ///< unique signal name: "<policy>/<name or index>"
  std::string source;  ///< metric source name
  enum class Kind { Threshold, Baseline, Canary, Compare } kind = Kind::Threshold;
  MetricQuery query;   ///< threshold and baseline; the canary arm for compare
  MetricQuery baseline_query;  ///< compare: the baseline arm (e.g. a latency quantile of the stable version)
  std::optional<double> above, below;
  Duration hold_for{0};  ///< the breach must hold this long (consecutive readings)
  // baseline: the same query evaluated at the start of the bake
  double max_increase = 0;
  bool increase_relative = true;  ///< "50%" vs an absolute amount
  // canary: cumulative counts per arm since the start of the bake
  MetricQuery canary_errors, canary_total, baseline_errors, baseline_total;
  double alpha = 0.01;         ///< false-alarm bound of the sequential test, and 1 - confidence of the ratio bound
  double max_ratio = 3;        ///< healthy only once the ratio's upper bound is at most this (> 1)
  double min_requests = 500;   ///< per arm, before a healthy verdict (a trip stands at any size); >= 1
  OnNoData on_no_data = OnNoData::Inconclusive;
  int max_source_errors = 3;   ///< consecutive errors before "cannot judge"
  Duration interval{5000};
  /// A log condition's settings (logs/config.h), read from the signal source
  /// "log:NAME"; empty for a metric condition.
  Settings log;
  std::string describe() const;
};

enum class Combine { Any, All };

struct PolicySpec {
  std::string name;
  std::string digest;   ///< of its definition as written: a reload keeps the state of an unchanged policy
  std::string service;  ///< the guarded service it judges (default: the agent's, or its file's `service`)
  std::string description;
  std::string scope;  ///< who is affected, in words, for incidents
  std::vector<std::string> probes;
  std::vector<MetricCondition> metrics;
  Combine combine = Combine::Any;  ///< how the probe rule and metric conditions combine
  int consecutive_failures = 3;  ///< 0 = rule off
  int window_failures = 0;       ///< k of ...
  int window_runs = 0;           ///< ... the last n judged runs; 0 = rule off
  int max_consecutive_errors = 3;
  OnErrors on_errors = OnErrors::Inconclusive;
  int min_observations = 3;  ///< judged runs per probe needed by the end of a bake
  Duration verify_for{30'000};
  int recovery_passes = 2;   ///< consecutive passes per probe that confirm recovery
  std::vector<ActionSpec> actions;
  std::vector<std::string> incident_sinks;  ///< empty = every configured sink
  bool dry_run = false;
};

}  // namespace dg
