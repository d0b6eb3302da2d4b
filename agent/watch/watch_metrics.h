#pragma once
/// WatchMetrics: the watcher's own metrics, on a prometheus-cpp registry,
/// served as text (format 0.0.4) by the watcher's listener at /metrics.
/// Every family is prefixed `deployguard_`; counters end in `_total`,
/// durations are in seconds. Every method is thread-safe and cheap (a map
/// lookup under a mutex, then an atomic update); none blocks on I/O.
/// No prometheus-cpp here: the registry lives in watch_metrics.cpp.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/core/clock.h"
#include "agent/core/observation.h"

namespace dg {

/// The states a policy's remediation can be in; deployguard_policy_state has
/// one series per state for each policy, 1 for the current one.
inline constexpr std::array<std::string_view, 8> kPolicyStates = {
    "watching", "tripped", "mitigating", "verifying", "mitigated", "escalated", "failed", "paused"};

class WatchMetrics {
 public:
  /// Sets deployguard_build_info{version} to 1.
  explicit WatchMetrics(std::string_view version);
  ~WatchMetrics();
  WatchMetrics(const WatchMetrics&) = delete;
  WatchMetrics& operator=(const WatchMetrics&) = delete;

  /// deployguard_probe_results_total{probe,outcome} and
  /// deployguard_probe_duration_seconds{probe}.
  void probe_result(std::string_view probe, Outcome outcome, Duration latency);
  /// deployguard_observations_total{outcome}: every observation the watcher
  /// judged (probe outcomes passed|failed|error, metric readings ok|no_data|error).
  void observation(std::string_view outcome);
  /// deployguard_policy_state{policy,state}. False (nothing changed) for a
  /// state not in kPolicyStates.
  bool policy_state(std::string_view policy, std::string_view state);
  /// deployguard_actions_total{kind,outcome}, e.g. ("flip_flag", "ok").
  void action(std::string_view kind, std::string_view outcome);
  /// deployguard_incidents_open.
  void incidents_open(int64_t count);
  /// deployguard_incident_sink_down{sink} (1 while marked down) and
  /// deployguard_incident_sink_down_total{sink} (times it went down).
  void incident_sink_down(std::string_view sink, bool down);
  /// deployguard_journal_records_written_total and deployguard_journal_head_seq.
  void journal_record_written(uint64_t head_seq);
  /// deployguard_time_to_detect_seconds / deployguard_time_to_mitigate_seconds.
  void time_to_detect(Duration d);
  void time_to_mitigate(Duration d);
  /// deployguard_scheduler_overruns_total{signal}: a tick skipped because the
  /// signal's previous run was still in flight.
  void scheduler_overrun(std::string_view signal);
  /// deployguard_config_reloads_total{result=success|failure}; on success
  /// deployguard_config_last_reload_success_timestamp_seconds is set to
  /// `wall` (calendar time); deployguard_config_last_reload_successful to 1 or 0.
  void config_reload(bool ok, TimePoint wall);

  /// Drops every series of a probe a reload removed (results, duration, and
  /// its overruns), so a deleted probe does not linger at its last values.
  void forget_probe(std::string_view probe);
  /// Drops a policy's state series.
  void forget_policy(std::string_view policy);
  /// Drops a signal's overrun series (metric conditions; probes go with forget_probe).
  void forget_signal(std::string_view signal);

  /// The whole registry in the text exposition format 0.0.4.
  std::string text() const;
  /// The Content-Type to serve text() with.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg
