#pragma once
/// alertmanager sink: Alertmanager API v2. A trip is one alert (identity:
/// its label set, which carries the dedup key). Its endsAt is set `ttl`
/// ahead and the alert re-sent every `resend_every` while it fires, so an
/// alert posted by a `verify` that has exited stays up for `ttl` instead of
/// resolving itself after Alertmanager's resolve_timeout (5 min by default).
/// "resolved" posts the same labels with endsAt = now, re-sent for a few
/// minutes (Alertmanager may have missed one). Optionally a heartbeat: an
/// always-firing watchdog alert from `watch` that expires when the guard dies
/// (route it to a dead-man's-switch receiver).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct AlertmanagerSinkSpec {
  std::string url;  ///< base, e.g. http://127.0.0.1:9093
  std::string alertname = "DeployguardPolicyTripped";
  std::string severity = "critical";
  std::vector<std::pair<std::string, std::string>> labels;  ///< extra labels on every alert
  Duration ttl{15 * 60'000};
  Duration resend_every{60'000};
  Duration resolved_resend_for{5 * 60'000};
  std::string generator_url;
  /// Watchdog: 0 = off. The alert's endsAt is 3 heartbeats ahead.
  Duration heartbeat{0};
  std::string heartbeat_alertname = "DeployguardWatchdog";
  HttpSinkKeys http;
};

void register_alertmanager_sink(IncidentSinkRegistry& registry);

}  // namespace dg
