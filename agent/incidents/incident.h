#pragma once
/// IncidentSink: where incidents are opened, updated and resolved. send() is
/// blocking and may retry inside; it reports the outcome as a value. Sinks are
/// driven by the IncidentNotifier on its own thread, so a slow or dead sink
/// never holds up a flag flip.
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"

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
  std::vector<std::string> actions;  ///< what the guard did so far, in order
  std::string journal;               ///< journal path and seq of the trip record
  /// `SEQ:HASH` of the journal's head when the event was sent (set by the
  /// notifier): `journal verify --head` detects a truncated or rewritten journal.
  std::string journal_head;
};

boost::json::object to_json(const Incident& incident);
/// The incident as JSON text, redacted as a value before it is serialized;
/// the event's times stay intact.
std::string redacted_payload(const Incident& incident);

struct IncidentSinkSpec {
  std::string name;
  std::string type;  ///< a registered sink type (agent/incidents/incident.cpp)
  Settings kind;     ///< the type's own settings, decoded in its home (agent/incidents/sinks/)
};

struct SinkOutcome {
  int attempts = 1;
  std::string detail;
};

class IncidentSink {
 public:
  virtual ~IncidentSink() = default;
  virtual Result<SinkOutcome> send(const Incident& incident) = 0;
};

struct IncidentSinkRegistry : Registry<IncidentSinkSpec, IncidentSink> {
  IncidentSinkRegistry() : Registry("incident sink") {}
};

void register_builtin_incident_sinks(IncidentSinkRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const IncidentSinkRegistry& builtin_incident_sinks();

}  // namespace dg
