#pragma once
/// IncidentSink: where incidents are opened, updated and resolved. send() is
/// blocking and may retry inside; it reports the outcome as a value. Sinks are
/// driven by the IncidentNotifier on its own thread, so a slow or dead sink
/// never holds up a flag flip.
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/registry.h"

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

struct WebhookSinkSpec {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout{5000};
  int max_attempts = 4;
  Duration backoff{500};  ///< first retry delay; doubles, with jitter
};

struct FileSinkSpec {
  std::string path;
};

struct IncidentSinkSpec {
  std::string name;
  std::string type;  ///< "webhook" | "file"
  std::variant<WebhookSinkSpec, FileSinkSpec> kind;
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

}  // namespace dg
