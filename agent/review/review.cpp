#include "agent/review/review.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "agent/core/json_text.h"
#include "agent/core/text.h"
#include "agent/journal/journal.h"

namespace dg::review {
namespace {

namespace json = boost::json;

const json::object& obj_at(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : kEmpty;
}

std::optional<long long> int_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<long long>(v->as_uint64());
  if (v->is_double()) return static_cast<long long>(v->as_double());
  return std::nullopt;
}

bool bool_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

std::vector<std::string> strings_at(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.if_contains(key); v && v->is_array())
    for (const auto& x : v->as_array())
      if (x.is_string()) out.emplace_back(x.as_string());
  return out;
}

// b − a in milliseconds, when both parse.
std::optional<long long> ms_between(const std::string& a, const std::string& b) {
  auto ta = text::parse_rfc3339(a), tb = text::parse_rfc3339(b);
  if (!ta || !tb) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*tb - *ta).count();
}

std::string one_line(std::string s, size_t max = 300) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return text::excerpt(s, max);
}

std::string describe_intent(const json::object& d, bool lifting) {
  std::string action = string_at(d, "action");
  std::string attempt;
  if (auto a = int_at(d, "attempt"); a && *a > 1) attempt = fmt::format(" (attempt {})", *a);
  if (action == "flag") {
    std::string seg = string_at(d, "segment");
    std::string provider = string_at(d, "provider");
    return fmt::format("set flag {} to '{}' {}{}{}", string_at(d, "flag"), string_at(d, "variant"),
                       seg.empty() ? "for everyone" : "for segment " + seg,
                       provider.empty() ? "" : " (provider " + provider + ")", attempt);
  }
  if (action == "undo_flag")
    return fmt::format("restore flag {} as it was before step {} ({}){}", string_at(d, "flag"),
                       int_at(d, "step").value_or(0),
                       lifting ? "the fix shipped: the mitigation is lifted" : "that flip did not help", attempt);
  if (action == "rollback") return fmt::format("run rollback {}{}", string_at(d, "rollback"), attempt);
  return action.empty() ? "an action" : action + attempt;
}

// The outcome word and its detail.
std::pair<std::string, std::string> describe_outcome(const json::object& d) {
  std::string action = string_at(d, "action");
  bool ok = bool_at(d, "ok");
  std::string detail = string_at(d, "detail");
  if (const auto* e = d.if_contains("error"); e && e->is_string()) detail = std::string(e->as_string());
  if (bool_at(d, "conflict")) return {"conflict", "the flag was changed by someone else since it was read: " + detail};
  if (action == "rollback") {
    std::string out = one_line(string_at(d, "output"), 200);
    std::string code = int_at(d, "exit_code") ? fmt::format("exit code {}", *int_at(d, "exit_code")) : "";
    if (bool_at(d, "timed_out")) code += code.empty() ? "timed out" : ", timed out";
    std::string det = code;
    if (!out.empty()) det += (det.empty() ? "" : ": ") + out;
    if (!detail.empty()) det += (det.empty() ? "" : "; ") + detail;
    return {ok ? "applied" : "failed", det};
  }
  if (!ok) return {"failed", detail};
  return {bool_at(d, "changed") ? "applied" : "unchanged", detail};
}

}  // namespace

// verify: its bake's start. watch: the release's announcement, or the watcher's start.
const ReviewBuilder::Start* ReviewBuilder::start_of(const std::string& run, const std::string& service,
                                                    const std::string& release) const {
  auto r = run_start_.find(run);
  if (r != run_start_.end() && !r->second.watch) return &r->second;
  if (auto s = release_start_.find(service + "\x1f" + release); s != release_start_.end()) return &s->second;
  return r != run_start_.end() ? &r->second : nullptr;
}

Incident* ReviewBuilder::find(const std::string& key) {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &model_.incidents[it->second];
}

void ReviewBuilder::note(Incident& i, const json::object& rec, std::string category, std::string text) {
  TimelineEntry e{.seq = int_at(rec, "seq").value_or(0),
                  .time = string_at(rec, "time"),
                  .kind = string_at(rec, "kind"),
                  .category = std::move(category),
                  .text = one_line(std::move(text), 400)};
  e.at = text::parse_rfc3339(e.time);
  i.timeline.push_back(std::move(e));
  i.last_seq = int_at(rec, "seq").value_or(i.last_seq);
  i.last_hash = string_at(rec, "hash");
}

void ReviewBuilder::add(const json::object& rec) {
  ++model_.records;
  model_.head_seq = int_at(rec, "seq").value_or(model_.head_seq);
  model_.head_hash = string_at(rec, "hash");
  const std::string kind = string_at(rec, "kind");
  const std::string policy = string_at(rec, "policy");
  const std::string time = string_at(rec, "time");
  const json::object& d = obj_at(rec, "data");

  if (kind == "verify_started") {
    run_start_[string_at(rec, "run")] = {time, int_at(rec, "seq").value_or(0)};
    return;
  }
  if (kind == "config_loaded" && string_at(d, "mode") == "watch") {
    // The watcher's engine counts from its start until a release is announced.
    run_start_[string_at(rec, "run")] = {time, int_at(rec, "seq").value_or(0), true};
    return;
  }
  if (kind == "release_started") {
    std::string service = string_at(d, "service");
    release_start_[service + "\x1f" + string_at(d, "release")] = {time, int_at(rec, "seq").value_or(0)};
    current_release_[service] = string_at(d, "release");
    for (const auto& p : strings_at(d, "policies")) policy_service_[p] = service;
    return;
  }
  if (kind == "alarm_raised" && !policy.empty() && !bool_at(d, "updated")) {
    pending_alarm_[policy] = rec;  // its policy_tripped follows
    return;
  }

  if (kind == "policy_tripped") {
    const json::object& inc = obj_at(d, "incident");
    std::string key = string_at(inc, "key");
    if (key.empty()) return;
    Incident* i = find(key);
    if (!i) {
      by_key_[key] = model_.incidents.size();
      Incident& n = model_.incidents.emplace_back();
      n.key = key;
      n.policy = policy;
      n.service = policy_service_.contains(policy) ? policy_service_[policy] : string_at(rec, "service");
      n.environment = string_at(rec, "environment");
      n.release = string_at(d, "release");
      if (n.release.empty()) n.release = string_at(rec, "release");
      n.run = string_at(rec, "run");
      n.scope = string_at(inc, "affected");
      n.experience = string_at(inc, "experience");
      n.signal = string_at(d, "probe");
      n.reasons = strings_at(d, "reasons");
      n.first_failure = string_at(d, "since");
      n.tripped = time;
      if (const Start* st = start_of(n.run, n.service, n.release))
        n.release_started = st->time, n.release_seq = st->seq;
      if (bool_at(d, "dry_run")) n.state = "dry_run";
      std::optional<json::object> alarm_rec;
      if (auto a = pending_alarm_.find(policy); a != pending_alarm_.end()) {
        const json::object& ad = obj_at(a->second, "data");
        n.alarm = true;
        n.raised_by = string_at(ad, "who");
        n.alarm_reason = string_at(ad, "reason");
        if (!string_at(ad, "scope").empty()) n.scope = string_at(ad, "scope");
        alarm_rec = std::move(a->second);
        pending_alarm_.erase(a);
      }
      n.title = n.alarm ? fmt::format("{}: alarm raised by {} ({})", n.service, n.raised_by, policy)
                        : fmt::format("{}: {} tripped after release {}", n.service, policy, n.release);
      // How each signal fared in the evidence, and the first failure of each.
      std::map<std::string, SignalImpact> impact;
      std::vector<std::string> order;
      std::map<std::string, bool> first_noted;
      if (!n.release_started.empty()) {
        TimelineEntry e{.seq = n.release_seq,
                        .time = n.release_started,
                        .kind = "release_started",
                        .category = "release",
                        .text = fmt::format("release {} of {} started", n.release, n.service)};
        e.at = text::parse_rfc3339(e.time);
        n.timeline.push_back(std::move(e));
      }
      if (const auto* ev = d.if_contains("evidence"); ev && ev->is_array())
        for (const auto& x : ev->as_array()) {
          if (!x.is_object()) continue;
          const auto& o = x.as_object();
          std::string sig = string_at(o, "probe"), outcome = string_at(o, "outcome");
          if (!impact.contains(sig)) order.push_back(sig);
          SignalImpact& si = impact[sig];
          si.signal = sig;
          if (outcome == "failed" || outcome == "passed") ++si.judged;
          if (outcome == "failed") {
            ++si.failed;
            if (!first_noted[sig]) {
              first_noted[sig] = true;
              std::string det = string_at(o, "detail");
              if (!string_at(o, "excerpt").empty()) det += " | evidence: " + string_at(o, "excerpt");
              TimelineEntry e{.time = string_at(o, "at"),
                              .kind = "observation",
                              .category = "signal",
                              .text = fmt::format("first failing observation of {}: {}", sig, det)};
              e.at = text::parse_rfc3339(e.time);
              n.timeline.push_back(std::move(e));
            }
          }
        }
      if (const auto* ev = d.if_contains("metric_evidence"); ev && ev->is_array())
        for (const auto& x : ev->as_array()) {
          if (!x.is_object()) continue;
          const auto& o = x.as_object();
          std::string sig = string_at(o, "condition");
          if (!impact.contains(sig)) order.push_back(sig);
          impact[sig].signal = sig;
          if (string_at(o, "status") == "ok") ++impact[sig].judged;
        }
      for (const auto& s : order) n.signals.push_back(impact[s]);
      if (auto it = impact.find(n.signal); it != impact.end() && it->second.judged > 0)
        n.frequency = it->second.failed == it->second.judged ? "every time" : "sometimes";
      else
        n.frequency = n.alarm ? "as reported by a person" : "unknown";
      std::stable_sort(n.timeline.begin(), n.timeline.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
      if (alarm_rec) note(n, *alarm_rec, "alarm", fmt::format("alarm raised by {}: {}", n.raised_by, n.alarm_reason));
      i = &n;
    }
    active_[policy] = key;
    lifting_.erase(key);
    note(*i, rec, "trip",
         i->alarm && string_at(d, "probe") == "alarm"
             ? fmt::format("policy {} tripped by the alarm: {}", policy, text::join(strings_at(d, "reasons"), "; "))
             : fmt::format("policy {} tripped: {}", policy, text::join(strings_at(d, "reasons"), "; ")));
    return;
  }

  if (kind == "alarm_raised") {
    std::string key = string_at(d, "incident");
    if (key.empty() && !policy.empty()) key = active_.contains(policy) ? active_[policy] : "";
    if (key.empty()) return;
    std::string who = string_at(d, "who"), reason = string_at(d, "reason");
    Incident* i = find(key);
    if (!i) {
      by_key_[key] = model_.incidents.size();
      Incident& n = model_.incidents.emplace_back();
      n.key = key;
      n.alarm = true;
      n.raised_by = who;
      n.alarm_reason = reason;
      n.service = string_at(d, "service");
      n.environment = string_at(rec, "environment");
      // The record's context is the agent's own service; the alarm may name another.
      auto cur = current_release_.find(n.service);
      n.release = cur != current_release_.end() ? cur->second : string_at(rec, "release");
      n.run = string_at(rec, "run");
      n.scope = string_at(d, "scope");
      n.experience = reason;
      n.signal = "alarm";
      n.reasons = {fmt::format("alarm raised by {}: {}", who, reason)};
      n.tripped = time;
      n.frequency = "as reported by a person";
      n.title = fmt::format("{}: alarm raised by {}", n.service, who);
      if (const Start* st = start_of(n.run, n.service, n.release))
        n.release_started = st->time, n.release_seq = st->seq;
      if (!n.release_started.empty()) {
        TimelineEntry e{.seq = n.release_seq,
                        .time = n.release_started,
                        .kind = "release_started",
                        .category = "release",
                        .text = fmt::format("release {} of {} started", n.release, n.service)};
        e.at = text::parse_rfc3339(e.time);
        n.timeline.push_back(std::move(e));
      }
      note(n, rec, "alarm", fmt::format("alarm raised by {} for {}: {}", who, n.scope, reason));
    } else {
      note(*i, rec, "alarm", fmt::format("alarm raised again by {}: {} (the open incident is updated)", who, reason));
    }
    return;
  }

  if (kind.starts_with("incident_") && kind != "incident_intent") {
    Incident* i = find(string_at(d, "key"));
    if (!i) return;
    std::string event = kind.substr(9);
    bool ok = bool_at(d, "ok");
    std::string what =
        ok ? fmt::format("incident {} at sink {} (status {})", event, string_at(d, "sink"), string_at(d, "status"))
           : fmt::format("incident {} NOT delivered to sink {}: {}", event, string_at(d, "sink"),
                         string_at(d, "error"));
    note(*i, rec, "incident", what);
    return;
  }

  if (kind == "interrupted_incident_closed") {
    if (Incident* i = find(string_at(d, "key")))
      note(*i, rec, "incident",
           fmt::format("the interrupted run's incident closed by a later run ({}, status {})", string_at(d, "event"),
                       string_at(d, "status")));
    return;
  }

  if (policy.empty()) return;
  auto act = active_.find(policy);
  if (act == active_.end()) return;
  Incident* i = find(act->second);
  if (!i) return;

  if (kind == "action_intent") {
    ActionEntry a{.step = static_cast<int>(int_at(d, "step").value_or(0)),
                  .action = string_at(d, "action"),
                  .intent = describe_intent(d, lifting_.contains(i->key)),
                  .outcome = "no outcome journaled",
                  .intent_time = time,
                  .intent_seq = int_at(rec, "seq").value_or(0)};
    if (a.action == "flag" && !string_at(d, "segment").empty() &&
        std::find(i->segments.begin(), i->segments.end(), string_at(d, "segment")) == i->segments.end())
      i->segments.push_back(string_at(d, "segment"));
    a.after_trip_ms = ms_between(i->tripped, time);
    note(*i, rec, "action", fmt::format("step {} intent: {}", a.step, a.intent));
    i->actions.push_back(std::move(a));
  } else if (kind == "action_outcome") {
    int step = static_cast<int>(int_at(d, "step").value_or(0));
    std::string action = string_at(d, "action");
    auto [outcome, detail] = describe_outcome(d);
    for (auto it = i->actions.rbegin(); it != i->actions.rend(); ++it)
      if (it->step == step && it->action == action && it->outcome_seq == 0) {
        it->outcome = outcome;
        it->detail = one_line(detail, 300);
        it->outcome_time = time;
        it->outcome_seq = int_at(rec, "seq").value_or(0);
        it->after_trip_ms = ms_between(i->tripped, time);
        break;
      }
    note(*i, rec, "action", fmt::format("step {} outcome: {} — {}", step, outcome, detail));
  } else if (kind == "verification") {
    int step = static_cast<int>(int_at(d, "step").value_or(0));
    std::string result = string_at(d, "result");
    std::string evidence = fmt::format("{}: {}", result, text::join(strings_at(d, "reasons"), "; "));
    for (auto it = i->actions.rbegin(); it != i->actions.rend(); ++it)
      if (it->step == step && it->action != "undo_flag") {
        it->evidence = one_line(evidence, 400);
        break;
      }
    note(*i, rec, "verification", fmt::format("step {} verified: {}", step, evidence));
  } else if (kind == "policy_recovered") {
    i->state = "mitigated";
    i->recovered = time;
    i->ttd_ms = int_at(d, "time_to_detect_ms");
    i->ttm_ms = int_at(d, "time_to_mitigate_ms");
    if (i->ttd_ms || i->ttm_ms) i->times_from = "policy_recovered";
    note(*i, rec, "recovery",
         fmt::format("users recovered after step {}{}", int_at(d, "step").value_or(0),
                     i->ttm_ms ? fmt::format(" (time to mitigate {})", human_ms(*i->ttm_ms)) : ""));
  } else if (kind == "mitigation_failed") {
    i->state = "mitigation_failed";
    note(*i, rec, "failure", "mitigation failed: " + string_at(d, "reason") + " — a human is needed");
  } else if (kind == "escalated") {
    note(*i, rec, "action",
         fmt::format("escalated from step {} to step {}: {}", int_at(d, "from_step").value_or(0),
                     int_at(d, "to_step").value_or(0), string_at(d, "to")));
  } else if (kind == "would_have") {
    note(*i, rec, "action", "dry run: would " + string_at(d, "description"));
  } else if (kind == "policy_paused") {
    note(*i, rec, "people", fmt::format("policy paused by {}: {}", string_at(d, "who"), string_at(d, "reason")));
  } else if (kind == "policy_resumed") {
    note(*i, rec, "people", fmt::format("policy resumed by {}", string_at(d, "who")));
  } else if (kind == "mitigation_lifting") {
    lifting_.insert(i->key);
    note(*i, rec, "release", fmt::format("mitigation being lifted (the fix shipped; by {})", string_at(d, "who")));
  } else if (kind == "mitigation_lifted") {
    i->state = "fixed";
    note(*i, rec, "recovery", "mitigation lifted: the fix holds, the flag is back as before");
    active_.erase(act);
  } else if (kind == "action_blocked") {
    note(*i, rec, "action",
         fmt::format("step {}: {} {} not run ({}): {}", int_at(d, "step").value_or(0), string_at(d, "action"),
                     string_at(d, "rollback"), string_at(d, "reason"), string_at(d, "detail")));
  } else if (kind == "action_delayed") {
    note(*i, rec, "action",
         fmt::format("step {}: {} {} held until {}: {}", int_at(d, "step").value_or(0), string_at(d, "action"),
                     string_at(d, "rollback"), string_at(d, "until"), string_at(d, "detail")));
  } else if (kind == "rollback_confirmed") {
    note(*i, rec, "action",
         fmt::format("step {}: rollback confirmed ({})", int_at(d, "step").value_or(0), string_at(d, "by")));
  } else if (kind == "rollback_approved" || kind == "rollback_vetoed") {
    note(*i, rec, "people",
         fmt::format("step {}: rollback {} {} by {}{}", int_at(d, "step").value_or(0), string_at(d, "rollback"),
                     kind == "rollback_approved" ? "approved" : "vetoed", string_at(d, "by"),
                     string_at(d, "reason").empty() ? "" : ": " + string_at(d, "reason")));
  } else if (kind == "ladder_resumed" || kind == "reconciled") {
    note(*i, rec, "other",
         kind == "reconciled" ? "an interrupted run was reconciled" : "the ladder resumed after a restart");
  }
}

Model ReviewBuilder::finish() const {
  Model model = model_;
  for (auto& i : model.incidents) {
    // Times the engine did not journal are differences of record times.
    if (!i.ttd_ms && !i.release_started.empty()) {
      i.ttd_ms = ms_between(i.release_started, i.tripped);
      if (i.ttd_ms && i.times_from.empty()) i.times_from = "record times";
    }
    if (!i.ttm_ms && !i.release_started.empty() && !i.recovered.empty())
      i.ttm_ms = ms_between(i.release_started, i.recovered);
    if (i.times_from.empty()) i.times_from = "record times";
    if (!i.first_failure.empty()) i.ttd_first_failure_ms = ms_between(i.first_failure, i.tripped);
    std::string from = i.first_failure.empty() ? i.tripped : i.first_failure;
    if (!i.recovered.empty()) {
      i.impact_ms = ms_between(from, i.recovered);
    } else if (!i.timeline.empty()) {
      i.impact_ms = ms_between(from, i.timeline.back().time);
      i.impact_ongoing = true;
    }
    if (i.impact_ms && *i.impact_ms < 0) i.impact_ms = 0;
  }
  return model;
}

Model build_from_journal(const std::string& path) {
  ReviewBuilder b;
  for_each_record(path, [&](json::object& rec) {
    b.add(rec);
    return true;
  });
  Model m = b.finish();
  m.journal = path;
  return m;
}

Model select(Model m, const Selection& s) {
  std::erase_if(m.incidents, [&](const Incident& i) {
    if (!s.incident.empty() && i.key != s.incident) return true;
    if (s.since) {
      auto t = text::parse_rfc3339(i.tripped);
      if (!t || *t < *s.since) return true;
    }
    return false;
  });
  return m;
}

std::string human_ms(long long ms) {
  if (ms < 0) return "-" + human_ms(-ms);
  if (ms < 60'000) return fmt::format("{:.3f} s", ms / 1000.0);
  if (ms < 3'600'000) return fmt::format("{} min {:.1f} s", ms / 60'000, (ms % 60'000) / 1000.0);
  return fmt::format("{} h {} min", ms / 3'600'000, (ms % 3'600'000) / 60'000);
}

std::optional<TimePoint> parse_since(std::string_view text, TimePoint now) {
  if (auto t = text::parse_rfc3339(text)) return t;
  // An offset instead of Z: 2026-11-01T02:00:00+02:00.
  if (text.size() > 6 && (text[text.size() - 6] == '+' || text[text.size() - 6] == '-') &&
      text[text.size() - 3] == ':') {
    int hh = 0, mm = 0;
    std::string_view off = text.substr(text.size() - 5);
    auto r1 = std::from_chars(off.data(), off.data() + 2, hh);
    auto r2 = std::from_chars(off.data() + 3, off.data() + 5, mm);
    if (r1.ec == std::errc() && r2.ec == std::errc())
      if (auto t = text::parse_rfc3339(std::string(text.substr(0, text.size() - 6)) + "Z")) {
        auto offset = std::chrono::hours(hh) + std::chrono::minutes(mm);
        return text[text.size() - 6] == '+' ? *t - offset : *t + offset;
      }
  }
  if (text.size() == 10) {
    if (auto t = text::parse_rfc3339(std::string(text) + "T00:00:00Z")) return t;
  }
  if (text.size() >= 2) {
    long long n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
    if (ec == std::errc() && p == text.data() + text.size() - 1 && n >= 0) {
      switch (text.back()) {
        case 'm':
          return now - std::chrono::minutes(n);
        case 'h':
          return now - std::chrono::hours(n);
        case 'd':
          return now - std::chrono::hours(24 * n);
        default:
          break;
      }
    }
  }
  return std::nullopt;
}

}  // namespace dg::review
