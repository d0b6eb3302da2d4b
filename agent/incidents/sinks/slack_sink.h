#pragma once
/// slack sink: a Slack incoming webhook (the URL is the secret). One message
/// per event, with `text` (notifications, fallback) and Block Kit blocks
/// carrying the incident's content. Slack posts are not idempotent: a retry
/// after a lost 200 can post twice (the dedup key is in every message).
#include <string>

#include "agent/incidents/incident.h"
#include "agent/incidents/sinks/http_sink_keys.h"

namespace dg {

struct SlackSinkSpec {
  std::string webhook_url;  ///< secret
  std::string mention;      ///< prepended to the text, e.g. "<!here>"
  HttpSinkKeys http;
};

/// Slack's escaping of & < > (mrkdwn and plain text alike).
std::string slack_escape(std::string_view s);

void register_slack_sink(IncidentSinkRegistry& registry);

}  // namespace dg
