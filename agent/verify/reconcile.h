#pragma once
/// Reconciliation: what a run does, before its bake, about earlier runs that
/// died (kill -9, power loss) — a run whose `config_loaded` has no
/// `verify_finished` and that no `reconciled` record closes yet. Each such run
/// is reconciled once:
/// - every intent without an outcome is judged by reading the provider's
///   current state (a flag flip or undo: applied or not?); a command
///   rollback's effect cannot be read back, so a human must check it;
/// - a flag flip the dead run left behind (its ladder unfinished) is kept when
///   this run verifies the same release, and undone (only if the flag still
///   holds what the dead run wrote) when it verifies another;
/// - the dead run's open incident is continued under the same dedup key;
/// - a `reconciled` record names the dead run and the seqs of its intents, so
///   no later run reports them again, and lists the incidents this run takes
///   over (with kept flips): they are this run's own trips from then on, so if
///   it dies too, the next run continues them;
/// - a ladder that ended but whose final incident event no sink acknowledged
///   (`incident_<event>` with the final status) gets that event re-sent.
/// After the bake, finish_reconciliation() closes the continued incidents the
/// bake did not take over and applies the exit-code rules (docs/config.md);
/// main journals `verify_finished` after it (finish_verify in verify.h).
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "agent/incidents/notifier.h"
#include "agent/journal/journal.h"
#include "agent/runtime.h"
#include "agent/verify/verify.h"

namespace dg {

struct InheritedIncident {
  Incident incident;       ///< as last sent (event, status and actions get updated)
  std::string dead_run;
  bool held_for_human = false;           ///< an intent whose effect cannot be read back
  std::vector<InheritedFlip> flips;      ///< flags kept as the dead run left them, with their states
};

struct Reconciliation {
  std::map<std::string, InheritedIncident> incidents;  ///< by policy
  std::vector<std::string> warnings;
  bool human_needed = false;  ///< exit 3: an effect that cannot be read back, or an undo that failed
  bool journal_failed = false;
  int runs = 0;  ///< interrupted runs found
};

/// Reconciles every interrupted run found in the journal. `release` is the
/// release this run verifies; in a dry run nothing is changed, sent or closed
/// (what would be done is journaled as `would_have`).
Reconciliation reconcile_interrupted_runs(const Config& config, Runtime& runtime, Journal& journal,
                                          IncidentNotifier& notifier, const Clock& clock, const std::string& release,
                                          const std::string& run_id, bool dry_run, Progress& progress);

/// The incidents this run continues, for VerifyOptions::continue_incidents.
std::map<std::string, ContinuedIncident> continued_incidents(const Reconciliation& r);

/// After the bake: closes each continued incident the bake did not trip on
/// (resolved when its policy was healthy, else handed to a human), keeps an
/// incident held for a human open, and adjusts the report's exit code.
void finish_reconciliation(const Reconciliation& r, const Config& config, VerifyReport& report, Journal& journal,
                           IncidentNotifier& notifier, const Clock& clock, bool dry_run);

}  // namespace dg
