#include "agent/incidents/sinks/pagerduty_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/secrets.h"

#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

class PagerDutySink final : public IncidentSink {
 public:
  explicit PagerDutySink(PagerDutySinkSpec s) : s_(std::move(s)) { secrets::add(s_.routing_key); }
  RetryPolicy retry_policy() const override { return s_.http.retry; }

  SinkAttempt attempt(const Incident& i, SinkMemory&) override {
    // Everything but the routing key comes from the redacted incident.
    json::object body{{"routing_key", s_.routing_key}, {"dedup_key", i.key}};
    if (i.event == "resolved") {
      body["event_action"] = "resolve";
    } else {
      json::object details;
      for (const auto& [k, v] : incident_facts(i)) details[k] = v;
      json::object red = redacted_json(i);
      std::string summary = std::string(red["title"].as_string());
      if (i.status == "mitigation_failed") summary += " — mitigation failed";
      if (summary.size() > 1024) summary.resize(1024);
      body["event_action"] = "trigger";
      body["client"] = "deployguard";
      body["payload"] = json::object{
          {"summary", summary},
          {"source", s_.source.empty() ? std::string(red["service"].as_string()) : s_.source},
          {"severity", s_.severity},
          {"timestamp", text::rfc3339(i.since != TimePoint{} ? i.since : i.at)},
          {"component", red["service"]},
          {"group", red["environment"]},
          {"class", red["policy"]},
          {"custom_details", std::move(details)},
      };
    }
    auto r = http_perform(sink_request(s_.http, "POST", s_.url, json::serialize(body)));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (a.ok()) a.detail = fmt::format("PagerDuty {} accepted (dedup_key {})", body["event_action"].as_string(), i.key);
    return a;
  }

 private:
  PagerDutySinkSpec s_;
};

}  // namespace

void register_pagerduty_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "pagerduty",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<PagerDutySink>(s.kind.as<PagerDutySinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        PagerDutySinkSpec p;
        if (auto v = r.secret_str("routing_key", true, "the integration's routing key (env:NAME or file:PATH)"))
          p.routing_key = *v;
        if (r.has("url"))
          if (auto v = r.url("url", "the Events API v2 enqueue URL", "https://events.pagerduty.com/v2/enqueue")) p.url = *v;
        static const std::vector<std::string> kSeverities = {"critical", "error", "warning", "info"};
        if (auto v = r.choice("severity", kSeverities)) p.severity = kSeverities[*v];
        if (auto v = r.str("source")) p.source = *v;
        decode_http_sink_keys(r, p.http);
        spec.kind = std::move(p);
      });
}

}  // namespace dg
