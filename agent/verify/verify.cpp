#include "agent/verify/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <array>
#include <future>
#include <mutex>
#include <set>

#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"
#include "policies/canary_counter.h"

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

json::object to_json(const MetricReading& r) {
  json::array series;
  for (const auto& s : r.series) series.push_back({{"labels", labels_key(s.labels)}, {"value", s.value}});
  json::object j{{"condition", r.signal}, {"at", text::rfc3339(r.at)}, {"status", to_string(r.status)},
                 {"query", r.query}, {"series", series}};
  if (!r.detail.empty()) j["detail"] = r.detail;
  if (!r.warnings.empty()) {
    json::array w;
    for (const auto& x : r.warnings) w.emplace_back(x);
    j["warnings"] = w;
  }
  return j;
}

json::array to_json(const std::vector<MetricReading>& readings) {
  json::array a;
  for (const auto& r : readings) a.push_back(to_json(r));
  return a;
}

json::array to_json(const std::vector<Observation>& obs) {
  json::array a;
  for (const auto& o : obs) a.push_back(to_json(o));
  return a;
}

json::object stats_json(const Verdict& v) {
  json::object o;
  for (const auto& [k, x] : v.stats) o[k] = x;
  return o;
}

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}


// Canary counting and test state per condition (policies/canary_counter.h).
using CanaryCounts = std::map<std::string, CanaryCounter>;

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
    Schedule schedule;
    for (const auto& p : cfg_.policies) {
      for (const auto& name : p.probes) schedule.probes[name] = report_.started;
      for (const auto& c : p.metrics) {
        conditions_[c.id] = &c;
        schedule.metrics[c.id] = report_.started;
      }
    }

    std::optional<PolicyResult> acted;
    while (!stopped()) {
      TimePoint now = clock_.now();
      if (now >= end) break;
      if (tick(schedule, nullptr, nullptr, report_.started, canary_bases_)) {
        for (const auto& policy : cfg_.policies) {
          Verdict v = evaluate(policy, history_, Phase::Ongoing, metric_history_);
          if (v.state == VerdictState::Tripped) {
            acted = handle_trip(policy, v);
            break;
          }
        }
        if (acted) break;
        progress_.status(status_line(end));
      }
      sleep_until(std::min(end, next_wake(schedule)));
    }

    if (!acted) {
      // What is still in flight when the bake ends is part of the evidence:
      // a source hanging at the end must count as an error, not be ignored.
      while (!probes_inflight_.empty() || !metrics_inflight_.empty()) {
        Schedule none;
        tick(none, nullptr, nullptr, report_.started, canary_bases_);
      }
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
    if (opt_.journal_finished && !finish_verify(journal_, report_))
      progress_.event("JOURNAL WRITE FAILED: verify_finished");
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

  void count(const Observation& o) {
    auto& st = stats_[o.signal];
    ++st.runs;
    st.passed += o.outcome == Outcome::Passed;
    st.failed += o.outcome == Outcome::Failed;
    st.errors += o.outcome == Outcome::Error;
    st.last_detail = o.detail;
    st.latency_total += o.latency;
    // Quiet: say it when what a signal reports changes, not on every run.
    std::string said = o.outcome == Outcome::Passed ? "passed" : std::string(to_string(o.outcome)) + ": " + o.detail;
    auto& last = last_said_[o.signal];
    if (said != last && !(last.empty() && o.outcome == Outcome::Passed))
      progress_.event(fmt::format("probe {} {}", o.signal, said));
    last = said;
  }

  // Appends to a signal's bounded history (probe observations or metric readings).
  template <class Histories, class Item>
  static void record(Histories& h, Item item) {
    auto& v = h[item.signal];
    v.push_back(std::move(item));
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
    Verdict v = evaluate(policy, history_, Phase::Final, metric_history_);
    PolicyResult r{.name = policy.name, .reasons = v.reasons};
    if (v.state == VerdictState::Inconclusive || report_.interrupted) {
      r.state = "inconclusive";
      if (report_.interrupted) r.reasons.insert(r.reasons.begin(), "the bake was interrupted before its end");
      append("policy_inconclusive", {{"policy", policy.name},
                                     {"data", {{"reasons", to_json(r.reasons)}, {"evidence", to_json(v.evidence)},
                                               {"metric_evidence", to_json(v.metric_evidence)}, {"stats", stats_json(v)}}}});
    } else {
      r.state = "healthy";
      append("policy_healthy", {{"policy", policy.name},
                                 {"data", {{"reasons", to_json(r.reasons)},
                                           {"metric_evidence", to_json(v.metric_evidence)},
                                           {"stats", stats_json(v)}}}});
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
    // The incident is journaled with the trip, so a run that finds this one
    // dead continues it (reconcile.h); a trip that continues an interrupted
    // run's incident keeps that incident's key.
    Incident incident;
    auto continued = opt_.continue_incidents.find(policy.name);
    if (continued != opt_.continue_incidents.end()) {
      incident.key = continued->second.key;
      incident.actions = continued->second.actions;
    } else {
      incident.key = "dg-" + sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}", cfg_.agent.service, cfg_.agent.environment,
                                                    policy.name, opt_.release, text::rfc3339(*res.tripped_at),
                                                    journal_.path()))
                                 .substr(0, 24);
    }
    auto seq = append("policy_tripped", {{"policy", policy.name},
                                         {"data", {{"reasons", to_json(v.reasons)}, {"probe", v.probe},
                                                   {"since", text::rfc3339(v.since)}, {"dry_run", dry},
                                                   {"evidence", to_json(v.evidence)},
                                                   {"metric_evidence", to_json(v.metric_evidence)},
                                                   {"stats", stats_json(v)},
                                                   {"incident", {{"key", incident.key}, {"affected", scope_of(policy)},
                                                                 {"experience", res.experience}}}}}});

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
    send(continued != opt_.continue_incidents.end() ? "updated" : "opened");

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
          auto pv = rt_.flag_providers.at(f->provider)->preview({f->flag, f->variant, f->segment, f->segment_jsonlogic});
          if (pv) {
            data["current_state"] = embed_json(pv->previous.state_json);
            data["would_write"] = embed_json(pv->current.state_json);
            data["would_change"] = pv->changed;
          } else {
            data["preview_error"] = pv.error().message;
          }
        }
        append("would_have", {{"policy", policy.name}, {"data", data}});
        progress_.event(fmt::format("dry run: would {}", rec.description));
        res.actions.push_back(rec);
        continue;
      }
      std::optional<FlagOutcome> undo;  // a flip this step wrote: what it replaced and what it wrote
      bool ok = execute(policy, action, i + 1, rec, undo);
      if (!undo && rec.outcome == "unchanged" && continued != opt_.continue_incidents.end()) {
        // The flag already holds what this step writes because an interrupted
        // run flipped it and reconciliation kept it: that flip is this step's,
        // so escalating undoes it (compare-and-swap, as for our own).
        if (const auto* f = std::get_if<FlagActionSpec>(&action.kind))
          for (const auto& k : continued->second.flips)
            if (k.provider == f->provider && k.flag == f->flag)
              undo = FlagOutcome{true, {f->flag, k.previous_state}, {f->flag, k.written_state},
                                 "flipped by the interrupted run, kept"};
      }
      incident.actions.push_back(fmt::format("{} ({}): {}", rec.description, rec.outcome, rec.detail));
      send("updated");  // responders learn of the step before its verification
      if (!ok) {
        res.actions.push_back(rec);
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
      if (i + 1 < policy.actions.size() && !stopped()) {
        // A flip that did not help is not left behind for the next step.
        if (undo) undo_flag(policy, std::get<FlagActionSpec>(action.kind), *undo, i + 1, incident);
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
  // the outcome follows, failures included. The undo is compare-and-swap: it
  // restores only if the flag is still what our step wrote; a later change by
  // someone else is kept and journaled as a conflict.
  void undo_flag(const PolicySpec& policy, const FlagActionSpec& f, const FlagOutcome& done, size_t step,
                 Incident& incident) {
    FlagProvider& provider = *rt_.flag_providers.at(f.provider);
    if (!append("action_intent", {{"policy", policy.name},
                                  {"data", {{"action", "undo_flag"}, {"step", step}, {"provider", f.provider},
                                            {"flag", f.flag}, {"restore_state", embed_json(done.previous.state_json)},
                                            {"expected_state", embed_json(done.current.state_json)}}}}))
      return;
    auto r = provider.restore(done.previous, done.current);
    bool conflict = r && r->conflict;
    json::object out{{"action", "undo_flag"}, {"step", step}, {"flag", f.flag}, {"ok", r.has_value() && !conflict}};
    if (r) {
      out["changed"] = r->changed;
      out["detail"] = r->detail;
      if (conflict) {
        out["conflict"] = true;
        out["expected_state"] = embed_json(done.current.state_json);
        out["found_state"] = embed_json(r->previous.state_json);
      }
    } else {
      out["error"] = r.error().message;
    }
    append("action_outcome", {{"policy", policy.name}, {"data", out}});
    std::string line = conflict ? fmt::format("did not undo step {}: flag {} was changed by someone else since; "
                                              "their change is kept ({})",
                                              step, f.flag, r->detail)
                                : fmt::format("undid step {} (flag {} restored): {}", step, f.flag,
                                              r ? r->detail : r.error().message);
    progress_.event("  " + line);
    incident.actions.push_back(line);
  }

  bool execute(const PolicySpec& policy, const ActionSpec& action, size_t step, ActionRecord& rec,
               std::optional<FlagOutcome>& undo) {
    progress_.event(fmt::format("step {}: {}", step, rec.description));
    if (const auto* f = std::get_if<FlagActionSpec>(&action.kind)) {
      FlagProvider& provider = *rt_.flag_providers.at(f->provider);
      const FlagChange change{f->flag, f->variant, f->segment, f->segment_jsonlogic};
      // Compare-and-swap: the write happens only if the flag is still in the
      // state the intent recorded. If someone changed it in between, that is
      // journaled and the step starts again from what they left.
      constexpr int kAttempts = 3;
      for (int attempt = 1;; ++attempt) {
        auto before = provider.preview(change);
        json::object intent{{"action", "flag"}, {"step", step}, {"provider", f->provider}, {"flag", f->flag},
                            {"variant", f->variant}, {"segment", f->segment}};
        if (!f->segment_jsonlogic.empty()) intent["targeting"] = embed_json(f->segment_jsonlogic);
        if (before) {
          intent["previous_state"] = embed_json(before->previous.state_json);
          intent["intended_state"] = embed_json(before->current.state_json);
        } else {
          intent["read_error"] = before.error().message;
        }
        if (attempt > 1) intent["attempt"] = attempt;
        if (!append("action_intent", {{"policy", policy.name}, {"data", intent}})) {
          rec.outcome = "failed";
          rec.detail = "not attempted: the intent could not be journaled";
          return false;
        }
        std::optional<FlagSnapshot> expected;
        if (before) expected = before->previous;
        auto r = provider.apply(change, expected);
        bool conflict = r && r->conflict;
        json::object out{{"action", "flag"}, {"step", step}, {"flag", f->flag}, {"ok", r.has_value() && !conflict}};
        if (r) {
          out["changed"] = r->changed;
          out["previous_state"] = embed_json(r->previous.state_json);
          out["new_state"] = embed_json(r->current.state_json);
          out["detail"] = r->detail;
        } else {
          out["error"] = r.error().message;
        }
        if (conflict) {
          out["conflict"] = true;
          out["expected_state"] = embed_json(before->previous.state_json);
          out["found_state"] = embed_json(r->previous.state_json);
        }
        append("action_outcome", {{"policy", policy.name}, {"data", out}});
        if (conflict && attempt < kAttempts) {
          progress_.event(fmt::format("  flag {} was changed by someone else since it was read; reading it again",
                                      f->flag));
          continue;
        }
        if (conflict) {
          rec.outcome = "failed";
          rec.detail = fmt::format("flag {} kept changing under us ({} attempts): {}", f->flag, kAttempts, r->detail);
        } else if (r) {
          rec.outcome = r->changed ? "applied" : "unchanged";
          rec.detail = r->detail;
          if (r->changed) undo = *r;
        } else {
          rec.outcome = "failed";
          rec.detail = r.error().message;
        }
        progress_.event(fmt::format("  flag {}: {} — {}", f->flag, rec.outcome, rec.detail));
        return r.has_value() && !conflict;
      }
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
    MetricHistory fresh_metrics;
    // Judge only what is observed after the action: baselines stay, canary
    // counts start again from the first read of the recovery.
    for (const auto& c : policy.metrics)
      if (auto it = metric_history_.find(c.id + "#baseline"); it != metric_history_.end()) fresh_metrics[it->first] = it->second;
    {
      std::lock_guard lock(bases_mu_);
      recovery_bases_.clear();
    }
    TimePoint start = clock_.now();
    TimePoint end = start + policy.verify_for;
    Schedule schedule;
    for (const auto& name : policy.probes) schedule.probes[name] = start;
    for (const auto& c : policy.metrics) schedule.metrics[c.id] = start;
    Recovery r;
    while (!stopped()) {
      if (tick(schedule, &fresh, &fresh_metrics, start, recovery_bases_)) {
        r = evaluate_recovery(policy, fresh, fresh_metrics);
        if (r.state != RecoveryState::Pending) return r;
        progress_.status(fmt::format("verifying {}: {}", policy.name, text::join(r.reasons, "; ")));
      }
      if (clock_.now() >= end) break;
      sleep_until(std::min(end, next_wake(schedule)));
    }
    r.reasons.insert(r.reasons.begin(), fmt::format("recovery not confirmed within verify_for {}",
                                                    format_duration(policy.verify_for)));
    return r;
  }

  // What falls due together runs together: probes and metric reads, each on
  // its own task, joined before anything is judged.
  struct Schedule {
    std::map<std::string, TimePoint> probes;   // probe name -> next run
    std::map<std::string, TimePoint> metrics;  // condition id -> next read
  };

  // Launches what is due (unless still running from before) and collects what
  // finished within a short slice of real time. A slow signal stays in flight
  // without holding up the others; its missed ticks are skipped, not queued.
  bool tick(Schedule& s, History* fresh, MetricHistory* fresh_metrics, TimePoint fresh_since,
            CanaryCounts& bases) {
    TimePoint now = clock_.now();
    for (const auto& [name, t] : s.probes) {
      if (t > now || probes_inflight_.contains(name)) continue;
      Probe* probe = rt_.probes.at(name).get();
      probes_inflight_[name] = std::async(launch_policy(), [probe, this] { return probe->run(clock_); });
    }
    for (const auto& [id, t] : s.metrics) {
      if (t > now || metrics_inflight_.contains(id)) continue;
      const MetricCondition* c = conditions_.at(id);
      // The pre-release value (as of the bake's start) is a read of its own,
      // in flight beside the others, asked for again until it arrives: a slow
      // source costs its timeout once, never before the bake can start.
      if (c->kind == MetricCondition::Kind::Baseline) {
        std::string key = id + "#baseline";
        auto b = metric_history_.find(key);
        if ((b == metric_history_.end() || b->second.back().status != ReadingStatus::Ok) &&
            !metrics_inflight_.contains(key))
          metrics_inflight_[key] = std::async(launch_policy(), [this, c] { return read_baseline(*c); });
      }
      metrics_inflight_[id] = std::async(launch_policy(), [this, c, &bases] { return read_condition(*c, bases); });
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(25);
    bool any = false;
    for (auto it = probes_inflight_.begin(); it != probes_inflight_.end();) {
      if (!finished(it->second, deadline)) {
        ++it;
        continue;
      }
      Observation o = it->second.get();
      count(o);
      if (fresh && o.at >= fresh_since) record(*fresh, o);
      record(history_, std::move(o));
      if (auto d = s.probes.find(it->first); d != s.probes.end()) d->second = next_due(d->second, cfg_.probe(it->first)->interval);
      it = probes_inflight_.erase(it);
      any = true;
    }
    for (auto it = metrics_inflight_.begin(); it != metrics_inflight_.end();) {
      if (!finished(it->second, deadline)) {
        ++it;
        continue;
      }
      MetricReading r = it->second.get();
      std::string said = r.status == ReadingStatus::Ok ? "ok" : std::string(to_string(r.status)) + ": " + r.detail;
      auto& last = last_said_[r.signal];
      if (said != last && !(last.empty() && r.status == ReadingStatus::Ok))
        progress_.event(fmt::format("metric {} {}", r.signal, said));
      last = said;
      for (const auto& w : r.warnings)
        if (warned_.insert(r.signal + "\x1f" + w).second)
          append("metric_warning", {{"data", {{"condition", r.signal}, {"query", r.query}, {"warning", w}}}});
      if (r.signal.ends_with("#baseline"))
        append("baseline_taken", {{"data", {{"condition", r.signal.substr(0, r.signal.size() - 9)}, {"reading", to_json(r)}}}});
      if (fresh_metrics && r.at >= fresh_since) record(*fresh_metrics, r);
      record(metric_history_, std::move(r));
      if (auto d = s.metrics.find(it->first); d != s.metrics.end())
        d->second = next_due(d->second, conditions_.at(it->first)->interval);
      it = metrics_inflight_.erase(it);
      any = true;
    }
    return any;
  }

  // Signals run on their own threads, so a slow one never holds up another;
  // tests may ask for them to run on this thread instead, at the moment they
  // are collected, so that fake time alone decides what happens when.
  std::launch launch_policy() const { return opt_.inline_signals ? std::launch::deferred : std::launch::async; }
  template <class T>
  static bool finished(const std::future<T>& f, std::chrono::steady_clock::time_point deadline) {
    auto status = f.wait_until(deadline);
    return status == std::future_status::ready || status == std::future_status::deferred;
  }

  // When to look again: the next due signal that is not already running, or
  // soon if something is still in flight.
  TimePoint next_wake(const Schedule& s) const {
    TimePoint t = TimePoint::max();
    for (const auto& [n, d] : s.probes)
      if (!probes_inflight_.contains(n)) t = std::min(t, d);
    for (const auto& [n, d] : s.metrics)
      if (!metrics_inflight_.contains(n)) t = std::min(t, d);
    if (!probes_inflight_.empty() || !metrics_inflight_.empty()) t = std::min(t, clock_.now() + Duration{25});
    return t;
  }

  static double total(const MetricReading& r) {
    double sum = 0;
    for (const auto& s : r.series) sum += s.value;
    return sum;
  }

  // A reading for one condition. Canary conditions read four cumulative
  // counters and report what each arm counted since `bases` were taken.
  MetricReading read_condition(const MetricCondition& c, CanaryCounts& bases) {
    MetricSource& source = *rt_.metric_sources.at(c.source);
    if (c.kind == MetricCondition::Kind::Compare) {
      // Two values, one per arm, in one reading: the judge compares them.
      auto both = read_together(source, {&c.query, &c.baseline_query}, clock_.now());
      MetricReading &canary = both[0], &base = both[1];
      MetricReading out = canary;
      out.signal = c.id;
      out.query = c.query.text() + " | " + c.baseline_query.text();
      out.warnings.insert(out.warnings.end(), base.warnings.begin(), base.warnings.end());
      for (const MetricReading* r : {&canary, &base}) {
        if (r->status != ReadingStatus::Ok) {
          out.status = r->status;
          out.detail = fmt::format("{}: {}", r == &canary ? "canary" : "baseline", r->detail);
          out.series.clear();
          return out;
        }
      }
      out.series = {{{{"arm", "canary"}}, total(canary)}, {{{"arm", "baseline"}}, total(base)}};
      return out;
    }
    if (c.kind != MetricCondition::Kind::Canary) {
      MetricReading r = source.read(c.query, clock_);
      r.signal = c.id;
      return r;
    }
    MetricReading out;
    out.signal = c.id;
    // The four counters of one look are read at one instant: a split or a
    // burst between the reads would otherwise count in one arm only.
    out.at = clock_.now();
    const MetricQuery* queries[4] = {&c.canary_errors, &c.canary_total, &c.baseline_errors, &c.baseline_total};
    static const char* arms[4] = {"canary errors", "canary traffic", "baseline errors", "baseline traffic"};
    std::vector<std::string> texts;
    std::vector<MetricReading> raw = read_together(source, {queries, queries + 4}, out.at);
    for (int i = 0; i < 4; ++i) {
      const MetricReading& r = raw[i];
      texts.push_back(queries[i]->text());
      out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
      if (r.status == ReadingStatus::Error) {
        out.status = ReadingStatus::Error;
        out.detail = fmt::format("{}: {}", queries[i]->text(), r.detail);
        return out;
      }
      // An errors query matching nothing is no data, never zero errors: a
      // typo in it must not read as a healthy canary.
      if (r.status == ReadingStatus::NoData) {
        out.status = ReadingStatus::NoData;
        out.detail = fmt::format("no {} counted yet ({}: {})", arms[i], queries[i]->text(), r.detail);
        return out;
      }
    }
    std::lock_guard lock(bases_mu_);
    auto it = bases.try_emplace(c.id, c.max_ratio).first;
    it->second.look({&raw[0].series, &raw[1].series, &raw[2].series, &raw[3].series});
    out.status = ReadingStatus::Ok;
    out.query = text::join(texts, " | ");
    out.series = canary_series(it->second.test);
    return out;
  }

  MetricReading read_baseline(const MetricCondition& c) {
    MetricReading r = rt_.metric_sources.at(c.source)->read(c.query, clock_, report_.started);
    r.signal = c.id + "#baseline";
    return r;
  }

  // The queries of one look, read at one instant and side by side: a look
  // costs its source's timeout once, not once per query.
  std::vector<MetricReading> read_together(MetricSource& source, std::vector<const MetricQuery*> queries, TimePoint at) {
    std::vector<std::future<MetricReading>> pending;
    for (const MetricQuery* q : queries)
      pending.push_back(std::async(launch_policy(), [this, &source, q, at] { return source.read(*q, clock_, at); }));
    std::vector<MetricReading> out;
    for (auto& f : pending) out.push_back(f.get());
    return out;
  }

  const Config& cfg_;
  Runtime& rt_;
  Journal& journal_;
  IncidentNotifier& notifier_;
  Clock& clock_;
  const VerifyOptions& opt_;
  Progress& progress_;
  History history_;
  MetricHistory metric_history_;
  std::map<std::string, const MetricCondition*> conditions_;
  CanaryCounts canary_bases_, recovery_bases_;
  std::map<std::string, std::future<Observation>> probes_inflight_;
  std::map<std::string, std::future<MetricReading>> metrics_inflight_;
  std::map<std::string, std::string> last_said_;
  std::set<std::string> warned_;
  std::mutex bases_mu_;
  std::map<std::string, ProbeStats> stats_;
  VerifyReport report_;
  bool journal_failed_ = false;
};

}  // namespace

bool finish_verify(Journal& journal, const VerifyReport& report) {
  json::array summary;
  for (const auto& p : report.policies) summary.push_back({{"policy", p.name}, {"state", p.state}});
  return journal
      .append("verify_finished", {{"data", {{"exit_code", report.exit_code}, {"interrupted", report.interrupted},
                                            {"policies", summary}}}})
      .has_value();
}

VerifyReport run_verify(const Config& config, Runtime& runtime, Journal& journal, IncidentNotifier& notifier,
                        Clock& clock, const VerifyOptions& options, Progress& progress) {
  return Bake(config, runtime, journal, notifier, clock, options, progress).run();
}

}  // namespace dg
