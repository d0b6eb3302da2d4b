#pragma once
/// verify: bakes one release. Runs probes on their schedules for the bake
/// time, evaluates policies as observations arrive, and when one trips walks
/// its remediation ladder (act, verify recovery, escalate), notifying incident
/// sinks and journaling every decision. Returns a report; the exit code
/// follows the product contract (0 healthy, 1 mitigated, 3 mitigation failed
/// or incomplete, 4 inconclusive).
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "agent/incidents/notifier.h"
#include "agent/journal/journal.h"
#include "agent/runtime.h"
#include "policies/evaluator.h"

namespace dg {

enum ExitCode : int { kHealthy = 0, kMitigated = 1, kUsage = 2, kMitigationFailed = 3, kInconclusive = 4 };

/// The incident of a trip whose run died (see reconcile.h): a trip of the same
/// policy continues it under the same dedup key instead of opening another.
/// A flag flip an interrupted run left in place and the reconciling run kept
/// (states as JSON text).
struct InheritedFlip {
  std::string provider, flag;
  std::string previous_state;  ///< before the interrupted run's flip
  std::string written_state;   ///< what that flip wrote
};

struct ContinuedIncident {
  std::string key;
  std::vector<std::string> actions;  ///< what was done so far, for the payload
  /// Kept flips: a step that finds its flag already as one of these left it
  /// ("unchanged") undoes that flip when it escalates, as if it had written it.
  std::vector<InheritedFlip> flips;
};

struct VerifyOptions {
  std::string release;
  std::map<std::string, ContinuedIncident> continue_incidents;  ///< by policy name
  Duration bake{120'000};
  bool dry_run = false;
  const std::atomic<bool>* stop = nullptr;  ///< set by a signal handler: end the bake early
  /// Run each probe and metric read on the verify thread when it is collected
  /// (deterministic under a fake clock, for tests); the default runs them
  /// concurrently on their own threads.
  bool inline_signals = false;
  /// Journal `verify_finished` at the end of the bake. main turns this off and
  /// calls finish_verify() itself once reconciliation has set the final exit
  /// code and policy states, so the record never contradicts the process.
  bool journal_finished = true;
};

/// Where progress goes: event lines always, a status line on a TTY.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void event(const std::string& line) = 0;
  virtual void status(const std::string& line) = 0;
};

struct ActionRecord {
  std::string description;
  std::string type;     ///< "flag" | "rollback"
  std::string outcome;  ///< "applied" | "unchanged" | "failed" | "would_have"
  std::string detail;
  std::string recovery;  ///< "recovered" | "still_failing" | "not_confirmed" | ""
  std::vector<std::string> recovery_reasons;
  TimePoint at{};
};

struct PolicyResult {
  std::string name;
  /// "healthy" | "inconclusive" | "mitigated" | "mitigation_failed" | "tripped_dry_run"
  std::string state;
  std::vector<std::string> reasons;
  std::string probe;       ///< deciding probe, when tripped
  std::string experience;  ///< what users see (failing expectation + evidence)
  std::optional<TimePoint> first_failure, tripped_at, recovered_at;
  std::vector<ActionRecord> actions;
  std::string incident_key;
};

struct ProbeStats {
  std::string name;
  std::string type;
  int runs = 0, passed = 0, failed = 0, errors = 0;
  std::string last_detail;
  Duration latency_total{0};
};

struct VerifyReport {
  std::string service, environment, release, journal, config_digest;
  TimePoint started{}, finished{};
  Duration bake{0};
  bool dry_run = false;
  bool interrupted = false;
  int exit_code = kHealthy;
  std::vector<PolicyResult> policies;
  std::vector<ProbeStats> probes;
  std::vector<std::string> incident_delivery;  ///< per sink, filled after the notifier is flushed
  std::vector<std::string> warnings;           ///< e.g. a previous run died mid-action
  std::string journal_head;                    ///< `SEQ:HASH` of the journal's last record, set at the very end
};

/// Journals `verify_finished` with the report's exit code and policy states.
bool finish_verify(Journal& journal, const VerifyReport& report);

VerifyReport run_verify(const Config& config, Runtime& runtime, Journal& journal, IncidentNotifier& notifier,
                        Clock& clock, const VerifyOptions& options, Progress& progress);

}  // namespace dg
