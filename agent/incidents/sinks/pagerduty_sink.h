#pragma once
/// pagerduty sink: PagerDuty Events API v2. "opened" and "updated" are
/// `trigger` events and "resolved" a `resolve`, all under the incident's
/// dedup key (one alert per trip: PagerDuty appends a trigger with an open
/// key); no acknowledge, that is the responder's.
#include <string>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct PagerDutySinkSpec {
  std::string routing_key;  ///< secret (env: or file: reference)
  std::string url = "https://events.pagerduty.com/v2/enqueue";
  std::string severity = "critical";  ///< critical | error | warning | info
  std::string source;                 ///< payload.source; empty = the service
  HttpSinkKeys http;
};

void register_pagerduty_sink(IncidentSinkRegistry& registry);

}  // namespace dg
