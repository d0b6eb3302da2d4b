#pragma once
/// statuspage sink: the customer-facing side (Atlassian Statuspage). The trip
/// opens an incident with the configured components in a degraded status and
/// wording from templates (customers read it: only the placeholders below,
/// never the evidence); updates move it to identified / monitoring; "resolved"
/// resolves it and sets the components back to operational (resolving alone
/// does not). The incident id is kept (SinkMemory), so a retry or a restart
/// updates the same incident; without one, the page's unresolved incidents
/// are searched by the trip's key in their metadata before creating.
///
/// Placeholders: {{service}} {{environment}} {{affected}} {{since}} {{release}} {{status}}.
#include <string>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct StatuspageSinkSpec {
  std::string api_key;  ///< secret: sent as `OAuth <key>`
  std::string page_id;
  std::string base_url = "https://api.statuspage.io/v1";
  std::vector<std::string> component_ids;
  std::string component_status = "partial_outage";  ///< degraded_performance | partial_outage | major_outage
  std::string impact = "major";                     ///< none | minor | major | critical
  bool deliver_notifications = true;
  std::string name = "{{service}}: degraded service";
  std::string opened_body = "We are investigating problems with {{service}} affecting {{affected}} since {{since}}.";
  std::string updated_body = "We have identified the cause and are working on {{service}}.";
  std::string mitigated_body = "A fix is in place for {{service}}; we are monitoring the results.";
  std::string resolved_body = "{{service}} is operating normally again.";
  HttpSinkKeys http;
};

/// `{{name}}` placeholders replaced from the incident (unknown ones left as they are).
std::string render_statuspage_template(const std::string& tpl, const Incident& incident);

void register_statuspage_sink(IncidentSinkRegistry& registry);

}  // namespace dg
