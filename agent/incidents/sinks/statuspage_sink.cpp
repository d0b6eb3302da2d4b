#include "agent/incidents/sinks/statuspage_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {

std::string render_statuspage_template(const std::string& tpl, const Incident& i) {
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"service", i.service},
      {"environment", i.environment},
      {"affected", i.scope.empty() ? "all users" : i.scope},
      {"since", i.since != TimePoint{} ? text::rfc3339(i.since).substr(0, 16) + " UTC" : "recently"},
      {"release", i.release},
      {"status", i.status}};
  std::string out;
  for (size_t pos = 0; pos < tpl.size();) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string::npos) {
      out.append(tpl, pos);
      break;
    }
    out.append(tpl, pos, open - pos);
    size_t close = tpl.find("}}", open);
    if (close == std::string::npos) {
      out.append(tpl, open);
      break;
    }
    std::string name = tpl.substr(open + 2, close - open - 2);
    auto it = std::find_if(vars.begin(), vars.end(), [&](const auto& kv) { return kv.first == name; });
    out += it != vars.end() ? it->second : tpl.substr(open, close + 2 - open);
    pos = close + 2;
  }
  return secrets::redact(out);
}

namespace {

namespace json = boost::json;

class StatuspageSink final : public IncidentSink {
 public:
  explicit StatuspageSink(StatuspageSinkSpec s) : s_(std::move(s)) {
    secrets::add(s_.api_key);
    while (s_.base_url.ends_with('/')) s_.base_url.pop_back();
    auth_ = {{"Authorization", "OAuth " + s_.api_key}};
  }
  RetryPolicy retry_policy() const override { return s_.http.retry; }

  SinkAttempt attempt(const Incident& i, SinkMemory& mem) override {
    std::string id = mem.get("incident_id");
    if (id.empty()) {
      SinkAttempt f = find_open(i);
      if (!f.ok()) return f;
      id = f.detail;
      if (!id.empty()) mem.keep("incident_id", json::value(id));
    }
    if (id.empty()) {
      if (i.event == "resolved") return delivered("no Statuspage incident was opened for it: nothing to resolve");
      return create(i, mem);
    }
    json::object components;
    bool resolved = i.event == "resolved";
    for (const auto& c : s_.component_ids) components[c] = resolved ? "operational" : s_.component_status;
    std::string status = resolved ? "resolved" : i.status == "mitigated" ? "monitoring" : "identified";
    const std::string& tpl = resolved ? s_.resolved_body : i.status == "mitigated" ? s_.mitigated_body : s_.updated_body;
    json::object inc{{"status", status}, {"body", render_statuspage_template(tpl, i)}};
    if (!components.empty()) inc["components"] = std::move(components);
    if (!s_.component_ids.empty()) inc["component_ids"] = json::array(s_.component_ids.begin(), s_.component_ids.end());
    auto r = http_perform(sink_request(s_.http, "PATCH", fmt::format("{}/pages/{}/incidents/{}", s_.base_url, s_.page_id, id),
                                       json::serialize(json::object{{"incident", std::move(inc)}}), auth_));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (a.ok()) a.detail = fmt::format("Statuspage incident {} set to {}", id, status);
    return a;
  }

 private:
  SinkAttempt create(const Incident& i, SinkMemory& mem) {
    json::object components;
    for (const auto& c : s_.component_ids) components[c] = s_.component_status;
    json::object inc{{"name", render_statuspage_template(s_.name, i)},
                     {"status", "investigating"},
                     {"impact_override", s_.impact},
                     {"body", render_statuspage_template(s_.opened_body, i)},
                     {"component_ids", json::array(s_.component_ids.begin(), s_.component_ids.end())},
                     {"components", std::move(components)},
                     {"deliver_notifications", s_.deliver_notifications},
                     {"metadata", {{"deployguard", {{"dedup_key", i.key}}}}}};
    auto r = http_perform(sink_request(s_.http, "POST", fmt::format("{}/pages/{}/incidents", s_.base_url, s_.page_id),
                                       json::serialize(json::object{{"incident", std::move(inc)}}), auth_));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (!a.ok()) return a;
    auto v = parse_json(r->body);
    std::string id = v && v->is_object() ? string_at(v->as_object(), "id") : "";
    if (id.empty()) return rejected(fmt::format("Statuspage answered {} without an incident id", r->status));
    mem.keep("incident_id", json::value(id));
    return delivered(fmt::format("Statuspage incident {} created", id));
  }

  // The id of an unresolved incident carrying this trip's key ("" if none).
  SinkAttempt find_open(const Incident& i) {
    auto r = http_perform(
        sink_request(s_.http, "GET", fmt::format("{}/pages/{}/incidents/unresolved", s_.base_url, s_.page_id), "", auth_));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (!a.ok()) return a;
    auto v = parse_json(r->body);
    if (!v || !v->is_array()) return delivered("");
    for (const auto& x : v->as_array()) {
      if (!x.is_object()) continue;
      const auto* md = x.as_object().if_contains("metadata");
      if (!md || !md->is_object()) continue;
      const auto* dg = md->as_object().if_contains("deployguard");
      if (dg && dg->is_object() && string_at(dg->as_object(), "dedup_key") == i.key)
        return delivered(string_at(x.as_object(), "id"));
    }
    return delivered("");
  }

  StatuspageSinkSpec s_;
  std::vector<std::pair<std::string, std::string>> auth_;
};

}  // namespace

void register_statuspage_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "statuspage",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<StatuspageSink>(s.kind.as<StatuspageSinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        StatuspageSinkSpec p;
        if (auto v = r.secret_str("api_key", true, "an API key (env:NAME or file:PATH)")) p.api_key = *v;
        if (auto v = r.str("page_id", true, "the page's id")) p.page_id = *v;
        if (r.has("base_url"))
          if (auto v = r.url("base_url", "the API base URL", "https://api.statuspage.io/v1")) p.base_url = *v;
        if (auto v = r.strings("component_ids")) p.component_ids = *v;
        static const std::vector<std::string> kStatus = {"degraded_performance", "partial_outage", "major_outage"};
        if (auto v = r.choice("component_status", kStatus)) p.component_status = kStatus[*v];
        static const std::vector<std::string> kImpact = {"none", "minor", "major", "critical"};
        if (auto v = r.choice("impact", kImpact)) p.impact = kImpact[*v];
        if (auto v = r.boolean("deliver_notifications")) p.deliver_notifications = *v;
        if (auto v = r.str("name")) p.name = *v;
        if (auto v = r.str("opened_body")) p.opened_body = *v;
        if (auto v = r.str("updated_body")) p.updated_body = *v;
        if (auto v = r.str("mitigated_body")) p.mitigated_body = *v;
        if (auto v = r.str("resolved_body")) p.resolved_body = *v;
        decode_http_sink_keys(r, p.http);
        spec.kind = std::move(p);
      });
}

}  // namespace dg
