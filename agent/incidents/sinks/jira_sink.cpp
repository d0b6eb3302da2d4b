#include "agent/incidents/sinks/jira_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

json::object paragraph(const std::string& text) {
  return {{"type", "paragraph"}, {"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
}

// Atlassian Document Format: one paragraph per line of content.
json::object adf(const std::vector<std::string>& lines) {
  json::array content;
  for (const auto& l : lines)
    if (!l.empty()) content.push_back(paragraph(l));
  if (content.empty()) content.push_back(paragraph("(no details)"));
  return {{"type", "doc"}, {"version", 1}, {"content", std::move(content)}};
}

std::vector<std::string> fact_lines(const Incident& i) {
  std::vector<std::string> out;
  for (const auto& [k, v] : incident_facts(i)) out.push_back(k + ": " + v);
  return out;
}

class JiraSink final : public IncidentSink {
 public:
  explicit JiraSink(JiraSinkSpec s) : s_(std::move(s)) {
    while (s_.base_url.ends_with('/')) s_.base_url.pop_back();
    auth_ = {{"Authorization", "Basic " + base64_encode(s_.email + ":" + s_.api_token)}, {"Accept", "application/json"}};
    secrets::add(auth_[0].second);
    secrets::add(s_.api_token);
  }
  RetryPolicy retry_policy() const override { return s_.http.retry; }

  SinkAttempt attempt(const Incident& i, SinkMemory& mem) override {
    std::string key = mem.get("issue_key");
    bool created_now = false;
    if (key.empty()) {
      if (!jsm()) {
        auto found = search(i);
        if (!found.ok()) return found;
        key = found.detail;  // the key, when the search found one
        if (!key.empty()) mem.keep("issue_key", json::value(key));
      }
      if (key.empty()) {
        auto c = create(i);
        if (!c.ok()) return c;
        key = c.detail;
        mem.keep("issue_key", json::value(key));  // journaled before anything else happens
        created_now = true;
      }
    }
    if (i.event == "opened" || created_now) {
      if (i.event != "resolved")
        return delivered(created_now ? fmt::format("Jira issue {} created", key)
                                     : fmt::format("Jira issue {} exists (created earlier), reused", key));
    }
    std::string event_done = "done_" + i.event + "_" + text::rfc3339(i.at);
    if (mem.get(event_done).empty()) {
      std::vector<std::string> lines{secrets::redact(i.event == "resolved" ? "Resolved: " + i.title
                                                                          : "Update (" + i.status + "): " + i.title)};
      for (auto& l : fact_lines(i)) lines.push_back(std::move(l));
      auto r = http_perform(sink_request(s_.http, "POST", fmt::format("{}/rest/api/3/issue/{}/comment", s_.base_url, key),
                                         json::serialize(json::object{{"body", adf(lines)}}), auth_));
      SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
      if (!a.ok()) return a;
      mem.keep(event_done, json::value("commented"));
    }
    if (i.event == "resolved" && !s_.close_transition.empty()) {
      auto r = http_perform(sink_request(s_.http, "POST", fmt::format("{}/rest/api/3/issue/{}/transitions", s_.base_url, key),
                                         json::serialize(json::object{{"transition", {{"id", s_.close_transition}}}}),
                                         auth_));
      SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
      if (!a.ok()) return a;
      return delivered(fmt::format("Jira issue {} commented and transitioned ({})", key, s_.close_transition));
    }
    return delivered(fmt::format("Jira issue {} commented ({})", key, i.event));
  }

 private:
  bool jsm() const { return !s_.service_desk_id.empty(); }

  // The detail of a delivered result is the key found ("" when none).
  SinkAttempt search(const Incident& i) {
    json::object body{{"jql", fmt::format("labels = \"{}\"", i.key)}, {"fields", json::array{"key"}}};
    auto r = http_perform(sink_request(s_.http, "POST", s_.base_url + "/rest/api/3/search/jql", json::serialize(body), auth_));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (!a.ok()) return a;
    auto v = parse_json(r->body);
    std::string key;
    if (v && v->is_object())
      if (const auto* issues = v->as_object().if_contains("issues"); issues && issues->is_array())
        for (const auto& x : issues->as_array())
          if (x.is_object() && key.empty()) key = string_at(x.as_object(), "key");
    return delivered(key);
  }

  SinkAttempt create(const Incident& i) {
    std::string summary = secrets::redact(i.title);
    if (summary.size() > 250) summary.resize(250);
    std::vector<std::string> lines = fact_lines(i);
    std::string url, body;
    if (jsm()) {
      std::string text;
      for (const auto& l : lines) text += l + "\n";
      url = s_.base_url + "/rest/servicedeskapi/request";
      body = json::serialize(json::object{{"serviceDeskId", s_.service_desk_id},
                                          {"requestTypeId", s_.request_type_id},
                                          {"requestFieldValues", {{"summary", summary}, {"description", text}}}});
    } else {
      json::array labels{"deployguard", json::value(i.key)};
      for (const auto& l : s_.labels) labels.emplace_back(l);
      url = s_.base_url + "/rest/api/3/issue";
      body = json::serialize(json::object{{"fields",
                                           {{"project", {{"key", s_.project}}},
                                            {"issuetype", {{"name", s_.issue_type}}},
                                            {"summary", summary},
                                            {"labels", std::move(labels)},
                                            {"description", adf(lines)}}}});
    }
    auto r = http_perform(sink_request(s_.http, "POST", url, body, auth_));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (!a.ok()) return a;
    auto v = parse_json(r->body);
    std::string key = v && v->is_object() ? string_at(v->as_object(), jsm() ? "issueKey" : "key") : "";
    // Created, but with no key to keep: a retry must not create another;
    // the label search finds it.
    if (key.empty()) return rejected(fmt::format("Jira answered {} without an issue key", r->status));
    return delivered(key);
  }

  JiraSinkSpec s_;
  std::vector<std::pair<std::string, std::string>> auth_;
};

}  // namespace

void register_jira_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "jira",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<JiraSink>(s.kind.as<JiraSinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        JiraSinkSpec j;
        if (auto v = r.url("base_url", "the Jira site", "https://example.atlassian.net")) j.base_url = *v;
        if (auto v = r.secret_str("email", true, "the account's email")) j.email = *v;
        if (auto v = r.secret_str("api_token", true, "an API token (env:NAME or file:PATH)")) j.api_token = *v;
        if (auto v = r.str("project")) j.project = *v;
        if (auto v = r.str("issue_type")) j.issue_type = *v;
        if (auto v = r.str("service_desk_id")) j.service_desk_id = *v;
        if (auto v = r.str("request_type_id")) j.request_type_id = *v;
        if (auto v = r.strings("labels")) j.labels = *v;
        if (auto v = r.str("close_transition")) j.close_transition = *v;
        for (const auto& l : j.labels)
          if (l.find(' ') != std::string::npos) r.error("labels", "a Jira label cannot contain spaces");
        bool jsm = !j.service_desk_id.empty() || !j.request_type_id.empty();
        if (jsm && (j.service_desk_id.empty() || j.request_type_id.empty()))
          r.error(j.service_desk_id.empty() ? "request_type_id" : "service_desk_id",
                  "a JSM request needs both service_desk_id and request_type_id");
        if (jsm == !j.project.empty())
          r.error("project", jsm ? "give either project (an issue) or service_desk_id (a JSM request), not both"
                                 : "missing required key 'project' (or service_desk_id and request_type_id)");
        decode_http_sink_keys(r, j.http);
        spec.kind = std::move(j);
      });
}

}  // namespace dg
