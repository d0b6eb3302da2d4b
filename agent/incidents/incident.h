#pragma once
/// IncidentSink: where incidents are opened, updated and resolved. A sink makes
/// one attempt per attempt() call, blocking, bounded by its own timeout; the
/// retries, backoff and Retry-After are the notifier's (one retry engine for
/// every sink: agent/incidents/delivery.h). Sinks are driven by the
/// IncidentNotifier on its own thread, so a slow or dead sink never holds up a
/// flag flip.
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/observation.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"
#include "agent/incidents/delivery.h"

namespace dg {

struct Incident {
  std::string event;  ///< "opened" | "updated" | "resolved"
  std::string key;    ///< dedup key: one per trip, stable across updates and retries
  std::string title;
  std::string service, environment, release, policy;
  std::string status;      ///< "mitigating" | "mitigated" | "mitigation_failed" | "dry_run"
  std::string scope;       ///< who is affected
  std::string experience;  ///< what they experience: failing expectation and evidence
  TimePoint since{};       ///< first failing observation
  TimePoint at{};
  /// Every time or sometimes: the share of the deciding observations that
  /// failed (0..1); none when the verdict rests on metrics alone.
  std::optional<double> failure_ratio;
  std::vector<std::string> actions;  ///< what the guard did so far, in order
  std::string journal;               ///< journal path and seq of the trip record
  /// `SEQ:HASH` of the journal's head when the event was sent (set by the
  /// notifier): `journal verify --head` detects a truncated or rewritten journal.
  std::string journal_head;
};

boost::json::object to_json(const Incident& incident);
/// Reads what to_json() writes (the notifier re-delivers a journaled event).
Incident incident_from_json(const boost::json::object& o);
/// The share of failed observations among the judged ones (errors are
/// "could not tell", not failures); none without any judged observation.
std::optional<double> failure_ratio_of(const std::vector<Observation>& evidence);
/// "every time (5/5)", "sometimes (2/5, 40%)" for a ratio, "" for none.
std::string describe_failure_ratio(const std::optional<double>& ratio);
/// The incident as JSON text, redacted as a value before it is serialized;
/// the event's times stay intact.
std::string redacted_payload(const Incident& incident);
/// to_json(), redacted as a value (times and journal head kept).
boost::json::object redacted_json(const Incident& incident);
/// The content every sink shows, redacted, in this order: who is affected,
/// what they experience, since when, how often, what was done, status,
/// release, journal (trip record) and journal head. Empty values left out.
std::vector<std::pair<std::string, std::string>> incident_facts(const Incident& incident);

struct IncidentSinkSpec {
  std::string name;
  std::string type;  ///< a registered sink type (agent/incidents/incident.cpp)
  Settings kind;     ///< the type's own settings, decoded in its home (agent/incidents/sinks/)
};

struct SinkOutcome {
  int attempts = 1;
  std::string detail;
};

/// What a sink keeps about one incident across events, retries and restarts
/// (Jira's issue key, Statuspage's incident id). keep() journals it at once,
/// before the sink goes on, so a retry or a restarted guard finds it in
/// data() and never creates the thing twice.
class SinkMemory {
 public:
  SinkMemory() = default;
  SinkMemory(boost::json::object data, std::function<void(const boost::json::object&)> on_keep)
      : data_(std::move(data)), on_keep_(std::move(on_keep)) {}
  const boost::json::object& data() const { return data_; }
  /// The string member `key`, or "".
  std::string get(std::string_view key) const;
  void keep(std::string_view key, boost::json::value value);

 private:
  boost::json::object data_;
  std::function<void(const boost::json::object&)> on_keep_;
};

class IncidentSink {
 public:
  virtual ~IncidentSink() = default;
  /// One delivery attempt of the event (no retry inside). The default calls
  /// send() once and treats its error as final (simple sinks, test fakes).
  virtual SinkAttempt attempt(const Incident& incident, SinkMemory& memory);
  /// A whole delivery: attempt() retried by retry_policy() (sleeping on this
  /// thread), for callers without a notifier. Override attempt() or send().
  virtual Result<SinkOutcome> send(const Incident& incident);
  virtual RetryPolicy retry_policy() const { return RetryPolicy{.max_attempts = 1}; }
  /// Re-sends what must be kept alive (Alertmanager's firing alerts expire at
  /// endsAt): the notifier calls refresh() on the sink's worker this often.
  virtual std::optional<Duration> refresh_every() const { return std::nullopt; }
  virtual void refresh(TimePoint /*wall_now*/) {}
  /// A dead-man's switch: how often watch calls heartbeat() (none: never).
  virtual std::optional<Duration> heartbeat_every() const { return std::nullopt; }
  /// One heartbeat ("the guard is alive"), stamped `now` (wall time).
  virtual SinkAttempt heartbeat(TimePoint now);
};

struct IncidentSinkRegistry : Registry<IncidentSinkSpec, IncidentSink> {
  IncidentSinkRegistry() : Registry("incident sink") {}
};

void register_builtin_incident_sinks(IncidentSinkRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const IncidentSinkRegistry& builtin_incident_sinks();

}  // namespace dg
