#include "agent/incidents/sinks/alertmanager_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

// Label values must be plain: the label set is the alert's identity.
class AlertmanagerSink final : public IncidentSink {
 public:
  explicit AlertmanagerSink(AlertmanagerSinkSpec s) : s_(std::move(s)) {
    while (s_.url.ends_with('/')) s_.url.pop_back();
  }
  RetryPolicy retry_policy() const override { return s_.http.retry; }
  std::optional<Duration> refresh_every() const override { return s_.resend_every; }
  std::optional<Duration> heartbeat_every() const override {
    return s_.heartbeat.count() > 0 ? std::optional<Duration>(s_.heartbeat) : std::nullopt;
  }

  SinkAttempt attempt(const Incident& i, SinkMemory&) override {
    TimePoint now = std::chrono::system_clock::now();
    json::object labels = labels_of(i);
    json::object annotations;
    json::object red = redacted_json(i);
    annotations["summary"] = red["title"];
    for (const auto& [k, v] : incident_facts(i)) {
      std::string name;
      for (char c : k) name += c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      annotations[name] = v;
    }
    TimePoint starts = i.since != TimePoint{} ? i.since : i.at;
    bool resolved = i.event == "resolved";
    json::object alert{{"labels", labels},
                       {"annotations", std::move(annotations)},
                       {"startsAt", text::rfc3339(starts)},
                       {"endsAt", text::rfc3339(resolved ? now : now + s_.ttl)}};
    if (!s_.generator_url.empty()) alert["generatorURL"] = s_.generator_url;
    SinkAttempt a = post(json::array{alert}, now);
    if (!a.ok()) return a;
    // Kept for refresh(): re-sent while firing, or while a resolve settles.
    if (resolved) {
      firing_.erase(i.key);
      resolving_[i.key] = {std::move(alert), now + s_.resolved_resend_for};
    } else {
      resolving_.erase(i.key);
      firing_[i.key] = std::move(alert);
    }
    a.detail = fmt::format("Alertmanager alert {} (endsAt {})", resolved ? "resolved" : "firing",
                           text::rfc3339(resolved ? now : now + s_.ttl));
    return a;
  }

  void refresh(TimePoint now) override {
    json::array batch;
    for (auto& [key, alert] : firing_) {
      alert["endsAt"] = text::rfc3339(now + s_.ttl);
      batch.push_back(alert);
    }
    for (auto it = resolving_.begin(); it != resolving_.end();) {
      if (now > it->second.second) {
        it = resolving_.erase(it);
        continue;
      }
      batch.push_back(it->second.first);
      ++it;
    }
    if (!batch.empty()) (void)post(batch, now);  // the next refresh tries again
  }

  SinkAttempt heartbeat(TimePoint now) override {
    json::object labels{{"alertname", s_.heartbeat_alertname}, {"severity", "none"}, {"source", "deployguard"}};
    for (const auto& [k, v] : s_.labels) labels[k] = v;
    if (!service_.empty()) labels["service"] = service_;
    json::object alert{{"labels", std::move(labels)},
                       {"annotations", {{"summary", "deployguard watch is alive; this alert stops when it dies"}}},
                       {"startsAt", text::rfc3339(now)},
                       {"endsAt", text::rfc3339(now + 3 * s_.heartbeat)}};
    return post(json::array{std::move(alert)}, now);
  }

 private:
  json::object labels_of(const Incident& i) {
    json::object l{{"alertname", s_.alertname}, {"severity", s_.severity}, {"dedup_key", i.key},
                   {"service", i.service},     {"environment", i.environment}, {"policy", i.policy},
                   {"source", "deployguard"}};
    for (const auto& [k, v] : s_.labels) l[k] = v;
    service_ = i.service;
    // A label value is shown as it is: no secret may be one.
    for (auto& kv : l)
      if (kv.value().is_string()) kv.value() = secrets::redact(kv.value().as_string());
    return l;
  }

  SinkAttempt post(const json::array& alerts, TimePoint now) {
    auto r = http_perform(sink_request(s_.http, "POST", s_.url + "/api/v2/alerts", json::serialize(alerts)));
    return classify_http(r, now);
  }

  AlertmanagerSinkSpec s_;
  std::string service_;
  std::map<std::string, json::object> firing_;
  std::map<std::string, std::pair<json::object, TimePoint>> resolving_;
};

}  // namespace

void register_alertmanager_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "alertmanager",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<AlertmanagerSink>(s.kind.as<AlertmanagerSinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        AlertmanagerSinkSpec a;
        if (auto v = r.url("url", "the Alertmanager base URL", "http://127.0.0.1:9093")) a.url = *v;
        if (auto v = r.str("alertname")) a.alertname = *v;
        if (auto v = r.str("severity")) a.severity = *v;
        a.labels = r.string_map("labels", false);
        if (auto v = r.duration("ttl")) a.ttl = *v;
        if (auto v = r.duration("resend_every")) a.resend_every = *v;
        if (auto v = r.duration("resolved_resend_for", Duration{0})) a.resolved_resend_for = *v;
        if (auto v = r.str("generator_url")) a.generator_url = *v;
        if (auto v = r.duration("heartbeat")) a.heartbeat = *v;
        if (auto v = r.str("heartbeat_alertname")) a.heartbeat_alertname = *v;
        if (a.resend_every >= a.ttl)
          r.error("resend_every", "must be shorter than ttl, or a firing alert expires between two re-sends");
        decode_http_sink_keys(r, a.http);
        spec.kind = std::move(a);
      });
}

}  // namespace dg
