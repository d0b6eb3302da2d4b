#include "agent/incidents/sinks/webhook_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/http_client.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {

std::string webhook_signature(const std::string& secret, long long timestamp, const std::string& body) {
  return "sha256=" + hmac_sha256_hex(secret, fmt::format("{}.{}", timestamp, body));
}

namespace {

// JSON POST, one attempt per call: the notifier retries network errors, 429
// and 5xx with backoff and jitter, honouring Retry-After; other 4xx are final.
class WebhookSink final : public IncidentSink {
 public:
  explicit WebhookSink(WebhookSinkSpec spec) : spec_(std::move(spec)) {
    if (!spec_.signing_secret.empty()) secrets::add(spec_.signing_secret);
  }
  RetryPolicy retry_policy() const override {
    return RetryPolicy{.max_attempts = spec_.max_attempts, .backoff = spec_.backoff};
  }
  std::optional<Duration> heartbeat_every() const override {
    return spec_.heartbeat.count() > 0 ? std::optional<Duration>(spec_.heartbeat) : std::nullopt;
  }

  SinkAttempt attempt(const Incident& incident, SinkMemory&) override {
    // One key per event (retries of it share it); the incident's own identity
    // is dedup_key in the body, the same for opened, updated and resolved.
    return post(spec_.url, redacted_payload(incident),
                fmt::format("{}:{}:{}", incident.key, incident.event, text::rfc3339(incident.at)));
  }

  SinkAttempt heartbeat(TimePoint now) override {
    boost::json::object body{{"event", "heartbeat"}, {"source", "deployguard"}, {"service", spec_.service},
                             {"environment", spec_.environment}, {"at", text::rfc3339(now)},
                             {"next_within", fmt::format("{}s", 2 * spec_.heartbeat.count() / 1000)}};
    return post(spec_.heartbeat_url.empty() ? spec_.url : spec_.heartbeat_url, boost::json::serialize(body), "");
  }

 private:
  SinkAttempt post(const std::string& url, std::string body, const std::string& idempotency_key) {
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = spec_.headers;
    req.headers.emplace_back("Content-Type", "application/json");
    if (!idempotency_key.empty()) req.headers.emplace_back("Idempotency-Key", idempotency_key);
    if (!spec_.signing_secret.empty()) {
      // Signed per attempt: a retry carries a fresh timestamp.
      long long ts = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
      req.headers.emplace_back(spec_.timestamp_header, std::to_string(ts));
      req.headers.emplace_back(spec_.signature_header, webhook_signature(spec_.signing_secret, ts, body));
    }
    req.body = std::move(body);
    req.timeout = spec_.timeout;
    req.tls = spec_.tls;
    return classify_http(http_perform(req), std::chrono::system_clock::now());
  }

  WebhookSinkSpec spec_;
};

void decode_webhook_sink(ConfigReader& r, IncidentSinkSpec& spec) {
  WebhookSinkSpec w;
  if (auto v = r.url("url", "an http:// or https:// URL", "https://hooks.example.com/x")) w.url = *v;
  w.headers = r.string_map("headers", true);
  if (auto v = r.duration("timeout")) w.timeout = *v;
  if (auto v = r.integer("max_attempts", 1, 20)) w.max_attempts = static_cast<int>(*v);
  if (auto v = r.duration("backoff")) w.backoff = *v;
  if (auto v = r.secret_str("signing_secret")) {
    w.signing_secret = *v;
    secrets::add(*v);
    if (!secrets::is_reference(r.str("signing_secret").value_or("")))
      r.error("signing_secret", "literal secret in the config; reference it as \"env:NAME\" or \"file:PATH\"");
  }
  if (auto v = r.str("signature_header")) w.signature_header = *v;
  if (auto v = r.str("timestamp_header")) w.timestamp_header = *v;
  if (auto v = r.duration("heartbeat")) w.heartbeat = *v;
  if (r.has("heartbeat_url"))
    if (auto v = r.url("heartbeat_url", "an http:// or https:// URL", "https://hc-ping.example.com/x")) w.heartbeat_url = *v;
  decode_http_tls(r, w.tls);
  spec.kind = std::move(w);
}

}  // namespace

void register_webhook_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "webhook",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<WebhookSink>(s.kind.as<WebhookSinkSpec>());
      },
      decode_webhook_sink);
}

}  // namespace dg
