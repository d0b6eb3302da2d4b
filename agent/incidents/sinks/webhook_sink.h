#pragma once
/// webhook sink: the incident as JSON, POSTed with retries.
#include <string>
#include <utility>
#include <vector>

#include "agent/core/http_client.h"
#include "agent/incidents/incident.h"

namespace dg {

struct WebhookSinkSpec {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout{5000};
  HttpRequest::Tls tls;
  int max_attempts = 4;
  Duration backoff{500};  ///< first retry delay; doubles, with jitter
};

/// Registers the type with its config decoder.
void register_webhook_sink(IncidentSinkRegistry& registry);

}  // namespace dg
