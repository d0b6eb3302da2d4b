#include "agent/verify/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <future>
#include <set>

#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;
constexpr size_t kHistoryLimit = 512;

json::object to_json(const Observation& o) {
  json::object j{{"probe", o.signal},
                 {"at", text::rfc3339(o.at)},
                 {"outcome", to_string(o.outcome)},
                 {"latency_ms", o.latency.count()},
                 {"detail", o.detail}};
  if (!o.excerpt.empty()) j["excerpt"] = o.excerpt;
  return j;
}

json::array to_json(const std::vector<Observation>& obs) {
  json::array a;
  for (const auto& o : obs) a.push_back(to_json(o));
  return a;
}

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}


// One bake: schedules, history and the policy ladder. Single-threaded except
// for probe batches, which run concurrently and are joined before evaluation.
class Bake {
 public:
  Bake(const Config& config, Runtime& rt, Journal& journal, IncidentNotifier& notifier, Clock& clock,
       const VerifyOptions& options, Progress& progress)
      : cfg_(config), rt_(rt), journal_(journal), notifier_(notifier), clock_(clock), opt_(options), progress_(progress) {}

  VerifyReport run() {
    report_.service = cfg_.agent.service;
    report_.environment = cfg_.agent.environment;
    report_.release = opt_.release;
    report_.journal = journal_.path();
    report_.config_digest = cfg_.digest;
    report_.bake = opt_.bake;
    report_.dry_run = opt_.dry_run;
    report_.started = clock_.now();
    for (const auto& p : cfg_.probes) stats_[p.name] = ProbeStats{.name = p.name, .type = p.type};

    append("verify_started", {{"data", {{"bake_ms", opt_.bake.count()}, {"dry_run", opt_.dry_run},
                                        {"probes", probe_names()}, {"policies", policy_names()}}}});
    progress_.event(fmt::format("baking release {} of {} for {}{}", opt_.release, cfg_.agent.service,
                                format_duration(opt_.bake), opt_.dry_run ? " (dry run: no side effects)" : ""));

    TimePoint end = report_.started + opt_.bake;
    std::set<std::string> used;
    for (const auto& p : cfg_.policies) used.insert(p.probes.begin(), p.probes.end());
    std::map<std::string, TimePoint> due;
    for (const auto& name : used) due[name] = report_.started;

    std::optional<PolicyResult> acted;
    while (!stopped()) {
      TimePoint now = clock_.now();
      if (now >= end) break;
      std::vector<std::string> batch;
      for (auto& [name, t] : due)
        if (t <= now) batch.push_back(name);
      if (!batch.empty()) {
        for (auto& o : run_batch(batch)) record(history_, std::move(o));
        for (const auto& name : batch) due[name] = next_due(due[name], cfg_.probe(name)->interval);
        for (const auto& policy : cfg_.policies) {
          Verdict v = evaluate(policy, history_, Phase::Ongoing);
          if (v.state == VerdictState::Tripped) {
            acted = handle_trip(policy, v);
            break;
          }
        }
        if (acted) break;
        progress_.status(status_line(end));
      }
      TimePoint wake = end;
      for (const auto& [name, t] : due) wake = std::min(wake, t);
      sleep_until(wake);
    }

    if (acted) {
      report_.policies.push_back(*acted);
      for (const auto& policy : cfg_.policies)
        if (policy.name != acted->name)
          report_.policies.push_back(PolicyResult{.name = policy.name, .state = "not_judged",
                                                  .reasons = {"the bake ended when policy " + acted->name + " tripped"}});
    } else {
      report_.interrupted = stopped();
      for (const auto& policy : cfg_.policies) report_.policies.push_back(final_verdict(policy));
    }
    report_.finished = clock_.now();
    report_.exit_code = exit_code();
    for (auto& [name, s] : stats_) report_.probes.push_back(s);
    json::array summary;
    for (const auto& p : report_.policies) summary.push_back({{"policy", p.name}, {"state", p.state}});
    append("verify_finished", {{"data", {{"exit_code", report_.exit_code}, {"interrupted", report_.interrupted},
                                         {"policies", summary}}}});
    return report_;
  }

 private:
  bool stopped() const { return opt_.stop != nullptr && opt_.stop->load(); }

  void sleep_until(TimePoint t) {
    // Real time sleeps in short steps so a stop signal is honoured promptly.
    while (!stopped() && clock_.now() < t) clock_.sleep_until(std::min(t, clock_.now() + Duration{200}));
  }

  TimePoint next_due(TimePoint last, Duration interval) const {
    // An overrun skips the missed ticks instead of queueing them.
    TimePoint now = clock_.now();
    TimePoint next = last + interval;
    while (next <= now) next += interval;
    return next;
  }

  std::vector<Observation> run_batch(const std::vector<std::string>& names) {
    std::vector<std::future<Observation>> futures;
    for (const auto& name : names) {
      Probe* probe = rt_.probes.at(name).get();
      futures.push_back(std::async(std::launch::async, [probe, this] { return probe->run(clock_); }));
    }
    std::vector<Observation> out;
    for (auto& f : futures) out.push_back(f.get());
    for (const auto& o : out) {
      auto& s = stats_[o.signal];
      ++s.runs;
      s.passed += o.outcome == Outcome::Passed;
      s.failed += o.outcome == Outcome::Failed;
      s.errors += o.outcome == Outcome::Error;
      s.last_detail = o.detail;
      s.latency_total += o.latency;
      if (o.outcome != Outcome::Passed)
        progress_.event(fmt::format("probe {} {}: {}", o.signal, to_string(o.outcome), o.detail));
    }
    return out;
  }

  static void record(History& h, Observation o) {
    auto& v = h[o.signal];
    v.push_back(std::move(o));
    if (v.size() > kHistoryLimit) v.erase(v.begin(), v.begin() + static_cast<long>(v.size() - kHistoryLimit));
  }

  std::string status_line(TimePoint end) const {
    std::vector<std::string> parts;
    for (const auto& [name, s] : stats_)
      if (s.runs) parts.push_back(fmt::format("{} {}/{}", name, s.passed, s.runs));
    auto left = std::chrono::duration_cast<std::chrono::seconds>(end - clock_.now()).count();
    return fmt::format("[{}s left] {}", std::max<long long>(0, left), text::join(parts, "  "));
  }

  json::array probe_names() const {
    json::array a;
    for (const auto& p : cfg_.probes) a.emplace_back(p.name);
    return a;
  }
  json::array policy_names() const {
    json::array a;
    for (const auto& p : cfg_.policies) a.emplace_back(p.name);
    return a;
  }

  // Journal failures must not be silent: the run carries on acting (the
  // mitigation matters more), but says so loudly and ends non-zero.
  std::optional<long long> append(const std::string& kind, json::object fields) {
    auto r = journal_.append(kind, std::move(fields));
    if (!r) {
      journal_failed_ = true;
      progress_.event("JOURNAL WRITE FAILED: " + r.error().message);
      return std::nullopt;
    }
    return *r;
  }

  PolicyResult final_verdict(const PolicySpec& policy) {
    Verdict v = evaluate(policy, history_, Phase::Final);
    PolicyResult r{.name = policy.name, .reasons = v.reasons};
    if (v.state == VerdictState::Inconclusive || report_.interrupted) {
      r.state = "inconclusive";
      if (report_.interrupted) r.reasons.insert(r.reasons.begin(), "the bake was interrupted before its end");
      append("policy_inconclusive", {{"policy", policy.name},
                                     {"data", {{"reasons", to_json(r.reasons)}, {"evidence", to_json(v.evidence)}}}});
    } else {
      r.state = "healthy";
      append("policy_healthy", {{"policy", policy.name}, {"data", {{"reasons", to_json(r.reasons)}}}});
    }
    return r;
  }

  int exit_code() const {
    bool any_failed = false, any_mitigated = false, any_inconclusive = false;
    for (const auto& p : report_.policies) {
      any_failed |= p.state == "mitigation_failed" || p.state == "tripped_dry_run";
      any_mitigated |= p.state == "mitigated";
      any_inconclusive |= p.state == "inconclusive";
    }
    if (any_failed) return kMitigationFailed;
    if (any_mitigated) return kMitigated;
    if (any_inconclusive || journal_failed_) return kInconclusive;
    return kHealthy;
  }

  std::string scope_of(const PolicySpec& policy) const {
    std::vector<std::string> parts;
    if (!policy.scope.empty()) parts.push_back(policy.scope);
    for (const auto& a : policy.actions)
      if (const auto* f = std::get_if<FlagActionSpec>(&a.kind); f && !f->segment.empty())
        parts.push_back("segment: " + f->segment);
    if (parts.empty()) parts.push_back("all users of " + cfg_.agent.service);
    return text::join(parts, "; ");
  }

  PolicyResult handle_trip(const PolicySpec& policy, const Verdict& v) {
    bool dry = opt_.dry_run || policy.dry_run;
    PolicyResult res{.name = policy.name, .reasons = v.reasons, .probe = v.probe};
    res.first_failure = v.since;
    res.tripped_at = clock_.now();
    std::string excerpt;
    for (auto it = v.evidence.rbegin(); it != v.evidence.rend() && excerpt.empty(); ++it) excerpt = it->excerpt;
    res.experience = v.reasons.empty() ? "" : v.reasons.front();
    if (!excerpt.empty()) res.experience += " | evidence: " + excerpt;

    progress_.event(fmt::format("TRIPPED policy {}: {}", policy.name, text::join(v.reasons, "; ")));
    auto seq = append("policy_tripped", {{"policy", policy.name},
                                         {"data", {{"reasons", to_json(v.reasons)}, {"probe", v.probe},
                                                   {"since", text::rfc3339(v.since)}, {"dry_run", dry},
                                                   {"evidence", to_json(v.evidence)}}}});

    Incident incident;
    incident.key = "dg-" + sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}", cfg_.agent.service, cfg_.agent.environment,
                                                  policy.name, opt_.release, text::rfc3339(*res.tripped_at),
                                                  journal_.path()))
                               .substr(0, 24);
    res.incident_key = incident.key;
    incident.title = fmt::format("{}: {} tripped after release {}", cfg_.agent.service, policy.name, opt_.release);
    incident.service = cfg_.agent.service;
    incident.environment = cfg_.agent.environment;
    incident.release = opt_.release;
    incident.policy = policy.name;
    incident.scope = scope_of(policy);
    incident.experience = res.experience;
    incident.since = v.since;
    incident.journal = fmt::format("{}#{}", journal_.path(), seq.value_or(0));
    incident.status = dry ? "dry_run" : "mitigating";
    auto send = [&](const std::string& event) {
      incident.event = event;
      incident.at = clock_.now();
      notifier_.notify(incident, policy.incident_sinks, dry);
    };
    send("opened");

    for (size_t i = 0; i < policy.actions.size(); ++i) {
      const ActionSpec& action = policy.actions[i];
      if (stopped() && !dry) {
        // Asked to stop: finish the step in flight, never start the next one.
        report_.interrupted = true;
        res.state = "mitigation_failed";
        res.reasons.push_back(fmt::format("stopped by a signal before step {} ({})", i + 1, action.describe()));
        progress_.event(res.reasons.back());
        append("mitigation_failed", {{"policy", policy.name},
                                     {"data", {{"steps_done", i}, {"reason", res.reasons.back()}}}});
        incident.status = "mitigation_failed";
        send("updated");
        return res;
      }
      ActionRecord rec{.description = action.describe(), .type = action.type, .at = clock_.now()};
      if (dry) {
        rec.outcome = "would_have";
        rec.detail = i == 0 ? "first step" : "if the previous step did not recover users";
        json::object data{{"action", action.type}, {"step", i + 1}, {"description", rec.description},
                          {"condition", rec.detail}};
        if (const auto* f = std::get_if<FlagActionSpec>(&action.kind)) {
          auto snap = rt_.flag_providers.at(f->provider)->read(f->flag);
          if (snap) data["current_state"] = embed_json(snap->state_json);
          else data["read_error"] = snap.error().message;
        }
        append("would_have", {{"policy", policy.name}, {"data", data}});
        progress_.event(fmt::format("dry run: would {}", rec.description));
        res.actions.push_back(rec);
        continue;
      }
      bool ok = execute(policy, action, i + 1, rec);
      incident.actions.push_back(fmt::format("{} ({}): {}", rec.description, rec.outcome, rec.detail));
      if (!ok) {
        res.actions.push_back(rec);
        send("updated");
        continue;  // escalate to the next step without waiting
      }
      Recovery r = verify_recovery(policy);
      rec.recovery = r.state == RecoveryState::Recovered    ? "recovered"
                     : r.state == RecoveryState::StillFailing ? "still_failing"
                                                              : "not_confirmed";
      rec.recovery_reasons = r.reasons;
      res.actions.push_back(rec);
      append("verification", {{"policy", policy.name},
                              {"data", {{"step", i + 1}, {"result", rec.recovery}, {"reasons", to_json(r.reasons)},
                                        {"evidence", to_json(r.evidence)}}}});
      if (r.state == RecoveryState::Recovered) {
        res.recovered_at = clock_.now();
        res.state = "mitigated";
        progress_.event(fmt::format("RECOVERED after step {} ({})", i + 1, rec.description));
        append("policy_recovered", {{"policy", policy.name},
                                    {"data", {{"step", i + 1}, {"time_to_detect_ms", ms(report_.started, *res.tripped_at)},
                                              {"time_to_mitigate_ms", ms(report_.started, *res.recovered_at)}}}});
        incident.status = "mitigated";
        incident.actions.back() += " — users recovered";
        send("resolved");
        return res;
      }
      progress_.event(fmt::format("step {} did not recover users: {}", i + 1, text::join(r.reasons, "; ")));
      incident.actions.back() += " — users did not recover";
      if (i + 1 < policy.actions.size()) {
        append("escalated", {{"policy", policy.name},
                             {"data", {{"from_step", i + 1}, {"to_step", i + 2},
                                       {"to", policy.actions[i + 1].describe()}}}});
      }
      send("updated");
    }
    if (dry) {
      res.state = "tripped_dry_run";
      send("updated");
      return res;
    }
    res.state = "mitigation_failed";
    progress_.event(fmt::format("MITIGATION FAILED for policy {}: a human is needed", policy.name));
    append("mitigation_failed", {{"policy", policy.name},
                                 {"data", {{"steps", policy.actions.size()},
                                           {"reason", "no step of the ladder recovered users"}}}});
    incident.status = "mitigation_failed";
    send("updated");
    return res;
  }

  static long long ms(TimePoint a, TimePoint b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  }

  // Intent (with what is needed to undo) is durable before the side effect;
  // the outcome follows, failures included.
  bool execute(const PolicySpec& policy, const ActionSpec& action, size_t step, ActionRecord& rec) {
    progress_.event(fmt::format("step {}: {}", step, rec.description));
    if (const auto* f = std::get_if<FlagActionSpec>(&action.kind)) {
      FlagProvider& provider = *rt_.flag_providers.at(f->provider);
      auto before = provider.read(f->flag);
      json::object intent{{"action", "flag"}, {"step", step}, {"provider", f->provider}, {"flag", f->flag},
                          {"variant", f->variant}, {"segment", f->segment}};
      if (!f->segment_jsonlogic.empty()) intent["targeting"] = embed_json(f->segment_jsonlogic);
      if (before) intent["previous_state"] = embed_json(before->state_json);
      else intent["read_error"] = before.error().message;
      if (!append("action_intent", {{"policy", policy.name}, {"data", intent}})) {
        rec.outcome = "failed";
        rec.detail = "not attempted: the intent could not be journaled";
        return false;
      }
      auto r = provider.apply({f->flag, f->variant, f->segment, f->segment_jsonlogic});
      json::object out{{"action", "flag"}, {"step", step}, {"flag", f->flag}, {"ok", r.has_value()}};
      if (r) {
        rec.outcome = r->changed ? "applied" : "unchanged";
        rec.detail = r->detail;
        out["changed"] = r->changed;
        out["previous_state"] = embed_json(r->previous.state_json);
        out["new_state"] = embed_json(r->current.state_json);
        out["detail"] = r->detail;
      } else {
        rec.outcome = "failed";
        rec.detail = r.error().message;
        out["error"] = r.error().message;
      }
      append("action_outcome", {{"policy", policy.name}, {"data", out}});
      progress_.event(fmt::format("  flag {}: {} — {}", f->flag, rec.outcome, rec.detail));
      return r.has_value();
    }
    const auto& rb = std::get<RollbackActionSpec>(action.kind);
    if (!append("action_intent", {{"policy", policy.name},
                                  {"data", {{"action", "rollback"}, {"step", step}, {"rollback", rb.rollback}}}})) {
      rec.outcome = "failed";
      rec.detail = "not attempted: the intent could not be journaled";
      return false;
    }
    auto r = rt_.rollbacks.at(rb.rollback)->run();
    json::object out{{"action", "rollback"}, {"step", step}, {"rollback", rb.rollback}};
    bool ok = r && r->ok;
    out["ok"] = ok;
    if (r) {
      out["exit_code"] = r->exit_code;
      out["timed_out"] = r->timed_out;
      out["elapsed_ms"] = r->elapsed.count();
      out["output"] = r->output;
      rec.detail = r->detail + (r->output.empty() ? "" : ": " + text::excerpt(r->output, 200));
    } else {
      out["error"] = r.error().message;
      rec.detail = r.error().message;
    }
    rec.outcome = ok ? "applied" : "failed";
    append("action_outcome", {{"policy", policy.name}, {"data", out}});
    progress_.event(fmt::format("  rollback {}: {} — {}", rb.rollback, rec.outcome, rec.detail));
    return ok;
  }

  // Re-runs the policy's probes on their schedules for at most verify_for and
  // judges only what was observed after the action.
  Recovery verify_recovery(const PolicySpec& policy) {
    History fresh;
    TimePoint start = clock_.now();
    TimePoint end = start + policy.verify_for;
    std::map<std::string, TimePoint> due;
    for (const auto& name : policy.probes) due[name] = start;
    Recovery r;
    while (!stopped()) {
      TimePoint now = clock_.now();
      std::vector<std::string> batch;
      for (auto& [name, t] : due)
        if (t <= now) batch.push_back(name);
      if (!batch.empty()) {
        for (auto& o : run_batch(batch)) {
          record(history_, o);
          record(fresh, std::move(o));
        }
        for (const auto& name : batch) due[name] = next_due(due[name], cfg_.probe(name)->interval);
        r = evaluate_recovery(policy, fresh);
        if (r.state != RecoveryState::Pending) return r;
        progress_.status(fmt::format("verifying {}: {}", policy.name, text::join(r.reasons, "; ")));
      }
      if (clock_.now() >= end) break;
      TimePoint wake = end;
      for (const auto& [name, t] : due) wake = std::min(wake, t);
      sleep_until(wake);
    }
    r.reasons.insert(r.reasons.begin(), fmt::format("recovery not confirmed within verify_for {}",
                                                    format_duration(policy.verify_for)));
    return r;
  }

  const Config& cfg_;
  Runtime& rt_;
  Journal& journal_;
  IncidentNotifier& notifier_;
  Clock& clock_;
  const VerifyOptions& opt_;
  Progress& progress_;
  History history_;
  std::map<std::string, ProbeStats> stats_;
  VerifyReport report_;
  bool journal_failed_ = false;
};

}  // namespace

VerifyReport run_verify(const Config& config, Runtime& runtime, Journal& journal, IncidentNotifier& notifier,
                        Clock& clock, const VerifyOptions& options, Progress& progress) {
  return Bake(config, runtime, journal, notifier, clock, options, progress).run();
}

}  // namespace dg
