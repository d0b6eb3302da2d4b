#pragma once
/// webhook sink: the incident as JSON, POSTed (retried by the notifier).
/// Optionally signed: `signature_header` carries
/// `sha256=<hex HMAC-SHA256(secret, TIMESTAMP + "." + BODY)>` and
/// `timestamp_header` the unix seconds TIMESTAMP, so a receiver can check
/// both the origin and the freshness (reject old timestamps: replays).
/// Optionally a heartbeat: {"event":"heartbeat",...} every `heartbeat`, a
/// dead-man's switch for `watch`.
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
  std::string signing_secret;  ///< empty: unsigned
  std::string signature_header = "X-Deployguard-Signature";
  std::string timestamp_header = "X-Deployguard-Timestamp";
  Duration heartbeat{0};      ///< 0: no heartbeat
  std::string heartbeat_url;  ///< empty: url
  std::string service, environment;  ///< named in heartbeats (the agent's)
};

/// The signature header's value for `body` sent at unix second `timestamp`.
std::string webhook_signature(const std::string& secret, long long timestamp, const std::string& body);

/// Registers the type with its config decoder.
void register_webhook_sink(IncidentSinkRegistry& registry);

}  // namespace dg
