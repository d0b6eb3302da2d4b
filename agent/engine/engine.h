#pragma once
/// The remediation engine: one state machine per policy, driven by events —
/// an observation, a metric reading, an action's outcome, time passing — and
/// never blocking on any of them. Both drivers feed it: `verify` for one bake
/// (agent/verify/verify.cpp), `watch` forever (agent/watch/watcher.cpp).
///
///   watching ─trip─► tripped ─► mitigating (step i) ─ok─► verifying ─recovered─► mitigated
///                                   ▲   │ failed             │ not recovered
///                                   │   ▼                    ▼
///                                   └─ escalated ◄───────────┘   (no step left) ─► failed
///   paused: not judged, nothing acted on, until resumed.
///
/// The engine keeps the signal histories (bounded), judges policies with the
/// pure evaluators, journals every decision (intent before a side effect,
/// outcome after) and enqueues incident events. Flag writes are short and run
/// inline; a rollback runs through the driver's `run_rollback`, which may
/// call back at once (verify) or later on the event loop (watch). Not
/// thread-safe: one thread (the driver's) calls it.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "agent/incidents/notifier.h"
#include "agent/journal/journal.h"
#include "agent/runtime.h"
#include "policies/canary_counter.h"
#include "policies/evaluator.h"

namespace dg {

/// Where progress goes: event lines always, a status line on a TTY.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void event(const std::string& line) = 0;
  virtual void status(const std::string& line) = 0;
};

/// A flag flip an interrupted run left in place and the reconciling run kept
/// (states as JSON text).
struct InheritedFlip {
  std::string provider, flag;
  std::string previous_state;  ///< before the interrupted run's flip
  std::string written_state;   ///< what that flip wrote
};

/// The incident of a trip whose run died (see reconcile.h): a trip of the same
/// policy continues it under the same dedup key instead of opening another.
struct ContinuedIncident {
  std::string key;
  std::vector<std::string> actions;  ///< what was done so far, for the payload
  /// Kept flips: a step that finds its flag already as one of these left it
  /// ("unchanged") undoes that flip when it escalates, as if it had written it.
  std::vector<InheritedFlip> flips;
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
  /// "healthy" | "inconclusive" | "mitigated" | "mitigation_failed" | "tripped_dry_run" | "not_judged"
  std::string state;
  std::vector<std::string> reasons;
  std::string probe;       ///< deciding probe, when tripped
  std::string experience;  ///< what users see (failing expectation + evidence)
  std::optional<TimePoint> first_failure, tripped_at, recovered_at;
  std::vector<ActionRecord> actions;
  std::string incident_key;
  std::string release;  ///< the release the trip was about
};

enum class LadderState { Watching, Tripped, Mitigating, Verifying, Mitigated, Escalated, Failed, Paused };
const char* to_string(LadderState s);

struct EngineOptions {
  std::string release;
  /// When the release started (the bake's start): time to detect and to
  /// mitigate count from it.
  TimePoint release_started{};
  std::map<std::string, ContinuedIncident> continue_incidents;  ///< by policy name
  bool dry_run = false;
  /// verify: the first trip freezes every other policy (one ladder per bake,
  /// and the bake ends with it). watch: every policy has its own ladder.
  bool exclusive = false;
  /// watch: journal a `policy_state` record (the machine's whole state) at
  /// every transition, so a restart resumes each machine where it was.
  bool journal_states = false;
  /// watch: the release of each service as of the start (policies of a
  /// service not listed use `release`).
  std::map<std::string, std::string> releases;
};

/// What the engine did, for the watcher's metrics and status.
struct EngineEvent {
  enum class Kind { State, Action, Recovered, IncidentOpened, IncidentClosed } kind = Kind::State;
  std::string policy;
  LadderState state = LadderState::Watching;
  std::string action, outcome;  ///< Action: "flag" | "rollback" | "undo_flag"; "applied" | "unchanged" | "failed"
  double detect_seconds = 0, mitigate_seconds = 0;  ///< Recovered: from the release's start
};

struct EngineEnv {
  Runtime& runtime;
  Journal& journal;
  IncidentNotifier& notifier;
  const Clock& clock;
  Progress& progress;
  /// Runs a rollback and calls `done` with its outcome: at once or later,
  /// but on the engine's thread.
  std::function<void(RollbackAction&, std::function<void(Result<RollbackOutcome>)>)> run_rollback;
  std::function<void(const EngineEvent&)> on_event;  ///< optional
};

/// A change announced for a service (config, `POST /api/v1/releases`).
struct ReleaseAnnouncement {
  std::string service;
  std::string release;
  std::vector<std::string> policies;  ///< the policies it concerns; empty = every policy of the service
  std::vector<std::string> fixes;     ///< policies whose trip it fixes: their mitigation is lifted
  std::string who;                    ///< who announced it
};

/// A person raising the alarm (`POST /api/v1/alarm`).
struct Alarm {
  std::string reason;
  std::string who;
  std::string scope;   ///< e.g. "segment: pluginCount == 0"; empty = the service
  std::string service;  ///< empty = the agent's
  std::string policy;  ///< optional: the policy whose ladder it starts
};

class Engine {
 public:
  Engine(std::shared_ptr<const Config> config, EngineEnv env, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- events in ----
  /// A probe's observation.
  void observe(Observation o);
  /// A metric reading (a canary condition's raw look: see signal_reader.h).
  void read(MetricReading r);
  /// Judges what changed since the last call and ends verifications whose
  /// verify_for has passed: trips start ladders, outcomes move them on.
  void advance();
  /// No ladder starts a new step from now on; verifications end unconfirmed.
  void stop();

  // ---- people and CI (watch) ----
  /// A new release of a service starts now: baselines and history start
  /// again for its policies; a ladder in flight finishes against the old one.
  Result<void> announce(const ReleaseAnnouncement& a);
  /// Restores the flag of a mitigated policy (the fix shipped) and watches it
  /// for its verify_for; a trip in that time flips again, under the same incident.
  Result<void> lift(const std::string& policy, const std::string& who);
  /// A release's bake ended: each concerned policy still judging it gives its
  /// final verdict (healthy / inconclusive, or its ladder's state), journaled
  /// as `release_baked`. Returns the record's data.
  boost::json::object judge_release(const std::string& service, const std::string& release,
                                    const std::vector<std::string>& policies);
  /// Opens an incident (or updates the open one for the same scope); with a
  /// policy, starts its ladder. Returns the incident key.
  Result<std::string> alarm(const Alarm& a);
  Result<void> pause(const std::string& policy, const std::string& who, const std::string& reason);
  /// A rollback held in its veto window (confirm_within): approve runs it
  /// now, veto skips it (the ladder escalates). An error when none is held.
  Result<void> approve(const std::string& policy, const std::string& who, const std::string& reason);
  Result<void> veto(const std::string& policy, const std::string& who, const std::string& reason);
  Result<void> resume(const std::string& policy, const std::string& who);

  // ---- restart ----
  /// The machines' state as JSON (for the journal checkpoint).
  boost::json::object snapshot() const;
  /// Puts the machines back as a snapshot (or the last `policy_state` of each)
  /// left them. `interrupted_flips`: flips a dead run left in place and
  /// reconciliation kept, by policy — a ladder that was mid-flight resumes by
  /// verifying them; one without resumes watching, its incident continued.
  void restore(const boost::json::object& states, const std::map<std::string, std::vector<InheritedFlip>>& kept,
               bool clean_stop);

  // ---- what the driver needs ----
  /// Signals (probe names, condition ids) to run as soon as possible: a
  /// verification just started and judges only what is observed after it.
  std::set<std::string> take_urgent();
  /// Whether any policy still judged needs this signal.
  bool wants(const std::string& signal) const;
  /// The next time advance() must be called even without new data.
  std::optional<TimePoint> next_deadline() const;
  /// A ladder is running (tripped, mitigating, verifying).
  bool ladder_in_flight() const;
  /// exclusive: the ladder has ended (the bake is over).
  bool ladder_done() const;
  bool journal_failed() const;

  LadderState state(const std::string& policy) const;
  /// The release a policy judges and when it started (baselines are taken as of then).
  std::pair<std::string, TimePoint> release_of(const std::string& policy) const;
  /// The policy's current ladder or last one (empty name when it never tripped).
  PolicyResult ladder(const std::string& policy) const;
  /// Open incidents raised by people (alarm), by scope.
  std::vector<Incident> alarm_incidents() const;
  const History& history() const;
  const MetricHistory& metric_history() const;
  /// The result of each policy that tripped (its ladder so far), config order.
  std::vector<PolicyResult> ladders() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Bounded history per signal: the newest observations kept for judging.
inline constexpr size_t kHistoryLimit = 512;

}  // namespace dg
