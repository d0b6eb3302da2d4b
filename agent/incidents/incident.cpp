// Incidents as JSON, and the built-in sink types (each in its own home under
// sinks/, registering its factory and config decoder).
#include "agent/incidents/incident.h"

#include <boost/json.hpp>

#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/incidents/sinks/file_sink.h"
#include "agent/incidents/sinks/webhook_sink.h"

namespace dg {

std::string redacted_payload(const Incident& incident) {
  boost::json::value v = to_json(incident);
  secrets::redact_json(v, {"since", "at", "journal_head"});
  return boost::json::serialize(v);
}

boost::json::object to_json(const Incident& i) {
  boost::json::array actions;
  for (const auto& a : i.actions) actions.emplace_back(a);
  return boost::json::object{
      {"event", i.event},
      {"dedup_key", i.key},
      {"title", i.title},
      {"status", i.status},
      {"service", i.service},
      {"environment", i.environment},
      {"release", i.release},
      {"policy", i.policy},
      {"affected", i.scope},
      {"experience", i.experience},
      {"since", text::rfc3339(i.since)},
      {"at", text::rfc3339(i.at)},
      {"actions", std::move(actions)},
      {"journal", i.journal},
      {"journal_head", i.journal_head},
  };
}

void register_builtin_incident_sinks(IncidentSinkRegistry& registry) {
  register_file_sink(registry);
  register_webhook_sink(registry);
}

const IncidentSinkRegistry& builtin_incident_sinks() { return built_in_once(register_builtin_incident_sinks); }

}  // namespace dg
