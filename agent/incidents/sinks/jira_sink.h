#pragma once
/// jira sink: one Jira Cloud issue per trip, in a project (REST v3, ADF
/// description), or a Jira Service Management request. Creating is not
/// idempotent, so the created key is kept (SinkMemory: journaled at once) and
/// reused by every retry, later event and restart; before creating without a
/// key, a search by the trip's label finds an issue whose create response was
/// lost — a fallback only, as Jira's search index lags behind a create.
/// Updates are comments; "resolved" comments and, when configured, applies
/// the closing transition.
#include <string>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct JiraSinkSpec {
  std::string base_url;  ///< https://SITE.atlassian.net
  std::string email;
  std::string api_token;  ///< secret
  std::string project;    ///< project key (issue mode)
  std::string issue_type = "Incident";
  std::string service_desk_id, request_type_id;  ///< JSM request mode (instead of project)
  std::vector<std::string> labels;               ///< added to the trip's own label
  std::string close_transition;                  ///< transition id applied on "resolved"; empty = none
  HttpSinkKeys http;
};

void register_jira_sink(IncidentSinkRegistry& registry);

}  // namespace dg
