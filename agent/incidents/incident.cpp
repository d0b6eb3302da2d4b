// Incidents as JSON, and the built-in sink types (each in its own home under
// sinks/, registering its factory and config decoder).
#include "agent/incidents/incident.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cmath>
#include <thread>

#include "agent/core/secrets.h"
#include "agent/core/json_text.h"
#include "agent/core/text.h"
#include "agent/incidents/sinks/alertmanager_sink.h"
#include "agent/incidents/sinks/file_sink.h"
#include "agent/incidents/sinks/jira_sink.h"
#include "agent/incidents/sinks/opsgenie_sink.h"
#include "agent/incidents/sinks/pagerduty_sink.h"
#include "agent/incidents/sinks/slack_sink.h"
#include "agent/incidents/sinks/statuspage_sink.h"
#include "agent/incidents/sinks/webhook_sink.h"

namespace dg {

boost::json::object redacted_json(const Incident& incident) {
  boost::json::value v = to_json(incident);
  secrets::redact_json(v, {"since", "at", "journal_head"});
  return std::move(v.as_object());
}

std::string redacted_payload(const Incident& incident) { return boost::json::serialize(redacted_json(incident)); }

std::vector<std::pair<std::string, std::string>> incident_facts(const Incident& i) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* label, const std::string& v, bool redact = true) {
    if (!v.empty()) out.emplace_back(label, redact ? secrets::redact(v) : v);
  };
  add("Affected", i.scope.empty() ? "everyone" : i.scope);
  add("Experience", i.experience);
  if (i.since != TimePoint{}) add("Since", text::rfc3339(i.since), false);
  add("How often", describe_failure_ratio(i.failure_ratio));
  std::string done;
  for (const auto& a : i.actions) done += (done.empty() ? "" : "; ") + a;
  add("Done", done.empty() ? "nothing yet" : done);
  add("Status", i.status);
  add("Release", i.release);
  add("Journal", i.journal);
  add("Journal head", i.journal_head, false);
  return out;
}

boost::json::object to_json(const Incident& i) {
  boost::json::array actions;
  for (const auto& a : i.actions) actions.emplace_back(a);
  return boost::json::object{
      {"event", i.event},
      {"dedup_key", i.key},
      {"title", i.title},
      {"status", i.status},
      {"service", i.service},
      {"environment", i.environment},
      {"release", i.release},
      {"policy", i.policy},
      {"affected", i.scope},
      {"experience", i.experience},
      {"since", text::rfc3339(i.since)},
      {"at", text::rfc3339(i.at)},
      {"failure_ratio", i.failure_ratio ? boost::json::value(*i.failure_ratio) : boost::json::value(nullptr)},
      {"actions", std::move(actions)},
      {"journal", i.journal},
      {"journal_head", i.journal_head},
  };
}

Incident incident_from_json(const boost::json::object& o) {
  Incident i;
  i.event = string_at(o, "event");
  // As to_json(Incident) writes it (dedup_key, affected), or the short names.
  i.key = string_at(o, "dedup_key");
  if (i.key.empty()) i.key = string_at(o, "key");
  i.title = string_at(o, "title");
  i.status = string_at(o, "status");
  i.service = string_at(o, "service");
  i.environment = string_at(o, "environment");
  i.release = string_at(o, "release");
  i.policy = string_at(o, "policy");
  i.scope = string_at(o, "affected");
  if (i.scope.empty()) i.scope = string_at(o, "scope");
  i.experience = string_at(o, "experience");
  if (auto t = text::parse_rfc3339(string_at(o, "since"))) i.since = *t;
  if (auto t = text::parse_rfc3339(string_at(o, "at"))) i.at = *t;
  if (const auto* r = o.if_contains("failure_ratio"); r && r->is_number()) i.failure_ratio = r->to_number<double>();
  if (const auto* a = o.if_contains("actions"); a && a->is_array())
    for (const auto& x : a->as_array())
      if (x.is_string()) i.actions.emplace_back(x.as_string());
  i.journal = string_at(o, "journal");
  i.journal_head = string_at(o, "journal_head");
  return i;
}

std::optional<double> failure_ratio_of(const std::vector<Observation>& evidence) {
  int failed = 0, judged = 0;
  for (const auto& o : evidence) {
    if (o.outcome == Outcome::Error) continue;
    ++judged;
    failed += o.outcome == Outcome::Failed;
  }
  if (judged == 0) return std::nullopt;
  return static_cast<double>(failed) / judged;
}

std::string describe_failure_ratio(const std::optional<double>& ratio) {
  if (!ratio) return "";
  if (*ratio >= 1.0) return "every time";
  return fmt::format("sometimes ({:.0f}% of checks)", std::round(*ratio * 100));
}

std::string SinkMemory::get(std::string_view key) const { return string_at(data_, key); }

void SinkMemory::keep(std::string_view key, boost::json::value value) {
  data_[key] = std::move(value);
  if (on_keep_) on_keep_(data_);
}

SinkAttempt IncidentSink::attempt(const Incident& incident, SinkMemory&) {
  auto r = send(incident);
  return r ? delivered(r->detail) : rejected(r.error().message);
}

Result<SinkOutcome> IncidentSink::send(const Incident& incident) {
  RetryPolicy p = retry_policy();
  std::mt19937 rng{std::random_device{}()};
  SinkMemory memory;
  std::string last;
  for (int n = 1;; ++n) {
    SinkAttempt a = attempt(incident, memory);
    if (a.ok()) return SinkOutcome{n, a.detail};
    if (a.kind == SinkAttempt::Kind::Rejected) return fail(a.detail);
    if (n >= p.max_attempts) return fail(fmt::format("gave up after {} attempt(s): {}", n, a.detail));
    std::this_thread::sleep_for(retry_delay(p, n, a.retry_after, rng));
  }
}

SinkAttempt IncidentSink::heartbeat(TimePoint) { return rejected("this sink type sends no heartbeat"); }

void register_builtin_incident_sinks(IncidentSinkRegistry& registry) {
  register_file_sink(registry);
  register_webhook_sink(registry);
  register_pagerduty_sink(registry);
  register_opsgenie_sink(registry);
  register_jira_sink(registry);
  register_statuspage_sink(registry);
  register_slack_sink(registry);
  register_alertmanager_sink(registry);
}

const IncidentSinkRegistry& builtin_incident_sinks() { return built_in_once(register_builtin_incident_sinks); }

}  // namespace dg
