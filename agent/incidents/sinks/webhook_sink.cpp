#include "agent/incidents/sinks/webhook_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

#include "agent/config/http_keys.h"
#include "agent/core/http_client.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

// JSON POST with retries: network errors, 429 and 5xx are retried with
// exponential backoff and jitter, honouring Retry-After; other 4xx are final.
class WebhookSink final : public IncidentSink {
 public:
  explicit WebhookSink(WebhookSinkSpec spec) : spec_(std::move(spec)) {}
  Result<SinkOutcome> send(const Incident& incident) override {
    HttpRequest req;
    req.method = "POST";
    req.url = spec_.url;
    req.headers = spec_.headers;
    req.headers.emplace_back("Content-Type", "application/json");
    // One key per event (retries of it share it); the incident's own identity
    // is dedup_key in the body, the same for opened, updated and resolved.
    req.headers.emplace_back("Idempotency-Key", fmt::format("{}:{}:{}", incident.key, incident.event, text::rfc3339(incident.at)));
    req.body = redacted_payload(incident);
    req.timeout = spec_.timeout;
    req.tls = spec_.tls;
    std::mt19937 rng{std::random_device{}()};
    Duration delay = spec_.backoff;
    std::string last;
    for (int attempt = 1; attempt <= spec_.max_attempts; ++attempt) {
      auto r = http_perform(req);
      Duration wait = delay;
      bool server_said = false;
      if (r && r->status >= 200 && r->status < 300)
        return SinkOutcome{attempt, fmt::format("HTTP {}", r->status)};
      if (r) {
        last = fmt::format("HTTP {}: {}", r->status, secrets::excerpt(r->body, 200));
        if (r->status != 429 && r->status < 500) return fail(secrets::redact(last) + " (not retried)");
        if (const std::string* ra = r->header("retry-after")) {
          long long secs = 0;
          auto [p, ec] = std::from_chars(ra->data(), ra->data() + ra->size(), secs);
          if (ec == std::errc{} && secs >= 0) {
            wait = std::chrono::seconds(std::min<long long>(secs, 60));
            server_said = true;
          }
        }
      } else {
        last = r.error().message;
      }
      if (attempt == spec_.max_attempts) break;
      // Jitter spreads retries out, but never earlier than Retry-After asked.
      std::uniform_real_distribution<double> jitter(server_said ? 1.0 : 0.8, 1.2);
      std::this_thread::sleep_for(Duration(static_cast<long long>(static_cast<double>(wait.count()) * jitter(rng))));
      delay = std::min(delay * 2, Duration(30'000));
    }
    return fail(fmt::format("gave up after {} attempt(s): {}", spec_.max_attempts, secrets::redact(last)));
  }

 private:
  WebhookSinkSpec spec_;
};

void decode_webhook_sink(ConfigReader& r, IncidentSinkSpec& spec) {
  WebhookSinkSpec w;
  if (auto v = r.url("url", "an http:// or https:// URL", "https://hooks.example.com/x")) w.url = *v;
  w.headers = r.string_map("headers", true);
  if (auto v = r.duration("timeout")) w.timeout = *v;
  if (auto v = r.integer("max_attempts", 1, 20)) w.max_attempts = static_cast<int>(*v);
  if (auto v = r.duration("backoff")) w.backoff = *v;
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
