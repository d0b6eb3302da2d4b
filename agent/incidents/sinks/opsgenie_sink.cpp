#include "agent/incidents/sinks/opsgenie_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

std::string cut(std::string s, size_t max) {
  if (s.size() > max) s.resize(max);
  return s;
}

class OpsgenieSink final : public IncidentSink {
 public:
  explicit OpsgenieSink(OpsgenieSinkSpec s) : s_(std::move(s)) {
    secrets::add(s_.api_key);
    while (s_.base_url.ends_with('/')) s_.base_url.pop_back();
  }
  RetryPolicy retry_policy() const override { return s_.http.retry; }

  SinkAttempt attempt(const Incident& i, SinkMemory&) override {
    std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "GenieKey " + s_.api_key}};
    json::object red = redacted_json(i);
    std::string url, verb;
    json::object body;
    if (i.event == "resolved") {
      url = fmt::format("{}/v2/alerts/{}/close?identifierType=alias", s_.base_url, text::url_encode(i.key));
      verb = "close";
      std::string note = "recovered";
      if (!i.actions.empty()) note = secrets::redact(i.actions.back());
      body = {{"source", "deployguard"}, {"note", cut(note, 25000)}};
    } else {
      url = s_.base_url + "/v2/alerts";
      verb = "create";
      std::string description;
      json::object details;
      for (const auto& [k, v] : incident_facts(i)) {
        description += k + ": " + v + "\n";
        details[k] = cut(v, 8000);
      }
      json::array responders, tags;
      for (const auto& t : s_.teams) responders.push_back({{"type", "team"}, {"name", t}});
      for (const auto& t : s_.tags) tags.emplace_back(t);
      tags.emplace_back("deployguard");
      body = {{"message", cut(std::string(red["title"].as_string()), 130)},
              {"alias", i.key},
              {"description", cut(description, 15000)},
              {"responders", std::move(responders)},
              {"tags", std::move(tags)},
              {"details", std::move(details)},
              {"entity", red["service"]},
              {"source", "deployguard"},
              {"priority", s_.priority}};
    }
    auto r = http_perform(sink_request(s_.http, "POST", url, json::serialize(body), auth));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (a.ok()) a.detail = fmt::format("Opsgenie {} accepted (alias {})", verb, i.key);
    return a;
  }

 private:
  OpsgenieSinkSpec s_;
};

}  // namespace

void register_opsgenie_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "opsgenie",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<OpsgenieSink>(s.kind.as<OpsgenieSinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        OpsgenieSinkSpec o;
        if (auto v = r.secret_str("api_key", true, "an API integration key (env:NAME or file:PATH)")) o.api_key = *v;
        if (r.has("base_url"))
          if (auto v = r.url("base_url", "the Alert API base URL", "https://api.opsgenie.com")) o.base_url = *v;
        if (auto v = r.strings("teams")) o.teams = *v;
        if (auto v = r.strings("tags")) o.tags = *v;
        static const std::vector<std::string> kPriorities = {"P1", "P2", "P3", "P4", "P5"};
        if (auto v = r.choice("priority", kPriorities)) o.priority = kPriorities[*v];
        decode_http_sink_keys(r, o.http);
        spec.kind = std::move(o);
      });
}

}  // namespace dg
