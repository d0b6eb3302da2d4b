#pragma once
/// opsgenie sink: Opsgenie Alert API v2, or its successor Jira Service
/// Management Operations (same shapes under another base URL). The alias is
/// the incident's dedup key, so retries and restarts keep one open alert;
/// "resolved" closes it by alias.
#include <string>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct OpsgenieSinkSpec {
  std::string api_key;  ///< secret: sent as `GenieKey <key>`
  /// https://api.opsgenie.com, https://api.eu.opsgenie.com, or JSM Ops:
  /// https://api.atlassian.com/jsm/ops/integration
  std::string base_url = "https://api.opsgenie.com";
  std::vector<std::string> teams;  ///< responders of type team
  std::vector<std::string> tags;
  std::string priority = "P1";
  HttpSinkKeys http;
};

void register_opsgenie_sink(IncidentSinkRegistry& registry);

}  // namespace dg
