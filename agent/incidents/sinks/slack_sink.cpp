#include "agent/incidents/sinks/slack_sink.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/secrets.h"

namespace dg {

std::string slack_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

namespace {

namespace json = boost::json;

std::string cut(std::string s, size_t max) {
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

class SlackSink final : public IncidentSink {
 public:
  explicit SlackSink(SlackSinkSpec s) : s_(std::move(s)) { secrets::add(s_.webhook_url); }
  RetryPolicy retry_policy() const override { return s_.http.retry; }

  SinkAttempt attempt(const Incident& i, SinkMemory&) override {
    const char* mark = i.event == "resolved" ? "RESOLVED" : i.status == "mitigation_failed" ? "MITIGATION FAILED"
                                                         : i.event == "opened"           ? "INCIDENT"
                                                                                         : "UPDATE";
    std::string title = secrets::redact(i.title);
    std::string text = fmt::format("{}{}: {}", s_.mention.empty() ? "" : s_.mention + " ", mark, slack_escape(title));
    json::array fields;
    for (const auto& [k, v] : incident_facts(i)) {
      if (fields.size() == 10) break;  // Slack's limit per section
      fields.push_back({{"type", "mrkdwn"}, {"text", cut(fmt::format("*{}*\n{}", k, slack_escape(v)), 2000)}});
    }
    json::array blocks{
        json::object{{"type", "header"},
                     {"text", {{"type", "plain_text"}, {"text", cut(std::string(mark) + ": " + title, 150)}}}},
        json::object{{"type", "section"}, {"fields", std::move(fields)}},
        json::object{{"type", "context"},
                     {"elements", json::array{json::object{
                                      {"type", "mrkdwn"},
                                      {"text", slack_escape(fmt::format("deployguard · {} · dedup key {}", i.event, i.key))}}}}}};
    json::object body{{"text", text}, {"blocks", std::move(blocks)}};
    auto r = http_perform(sink_request(s_.http, "POST", s_.webhook_url, json::serialize(body)));
    SinkAttempt a = classify_http(r, std::chrono::system_clock::now());
    if (a.ok()) a.detail = "Slack message posted";
    return a;
  }

 private:
  SlackSinkSpec s_;
};

}  // namespace

void register_slack_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "slack",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<SlackSink>(s.kind.as<SlackSinkSpec>());
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        SlackSinkSpec s;
        if (auto v = r.url("webhook_url", "the incoming webhook URL (env:NAME or file:PATH: it is a secret)",
                           "https://hooks.slack.com/services/T000/B000/XXXX")) {
          s.webhook_url = *v;
          secrets::add(*v);  // the whole URL is the credential, even written literally
        }
        if (auto v = r.str("mention")) s.mention = *v;
        decode_http_sink_keys(r, s.http);
        spec.kind = std::move(s);
      });
}

}  // namespace dg
