#pragma once
/// verify: bakes one release. Runs probes and metric reads on their schedules
/// for the bake time and feeds what they observe to the remediation engine
/// (agent/engine/engine.h), which judges the policies and, when one trips,
/// walks its ladder; the first trip ends the bake once its ladder has ended.
/// Returns a report; the exit code
/// follows the product contract (0 healthy, 1 mitigated, 3 mitigation failed
/// or incomplete, 4 inconclusive).
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "agent/engine/engine.h"
#include "agent/incidents/notifier.h"
#include "agent/journal/journal.h"
#include "agent/runtime.h"
#include "policies/evaluator.h"

namespace dg {

enum ExitCode : int { kHealthy = 0, kMitigated = 1, kUsage = 2, kMitigationFailed = 3, kInconclusive = 4 };

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
