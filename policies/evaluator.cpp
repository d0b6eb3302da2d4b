#include "policies/evaluator.h"

#include <fmt/format.h>

#include <algorithm>

namespace dg {
namespace {

const std::vector<Observation> kEmpty;

const std::vector<Observation>& of(const History& h, const std::string& probe) {
  auto it = h.find(probe);
  return it == h.end() ? kEmpty : it->second;
}

std::string last_detail(const std::vector<Observation>& obs, Outcome o) {
  for (auto it = obs.rbegin(); it != obs.rend(); ++it)
    if (it->outcome == o) return it->detail;
  return "";
}

// What one probe's observations say under the policy's rules.
struct ProbeJudgement {
  VerdictState state = VerdictState::Healthy;
  std::string reason;
  std::vector<Observation> evidence;
  TimePoint since{};
};

ProbeJudgement judge_probe(const PolicySpec& p, const std::string& probe, const std::vector<Observation>& obs,
                           Phase phase) {
  ProbeJudgement j;
  // Errors say nothing about the target: they neither count as failures nor
  // break a failure streak, and have their own limit.
  std::vector<const Observation*> judged;
  for (const auto& o : obs)
    if (o.outcome != Outcome::Error) judged.push_back(&o);

  if (p.consecutive_failures > 0) {
    int streak = 0;
    for (auto it = judged.rbegin(); it != judged.rend() && (*it)->outcome == Outcome::Failed; ++it) ++streak;
    if (streak >= p.consecutive_failures) {
      j.state = VerdictState::Tripped;
      j.reason = fmt::format("probe {}: {} consecutive failures (limit {}): {}", probe, streak,
                             p.consecutive_failures, last_detail(obs, Outcome::Failed));
      for (auto it = judged.end() - streak; it != judged.end(); ++it) j.evidence.push_back(**it);
      j.since = j.evidence.front().at;
      return j;
    }
  }
  if (p.window_runs > 0) {
    size_t n = std::min<size_t>(judged.size(), static_cast<size_t>(p.window_runs));
    int failures = 0;
    for (size_t i = judged.size() - n; i < judged.size(); ++i) failures += judged[i]->outcome == Outcome::Failed;
    if (failures >= p.window_failures) {
      j.state = VerdictState::Tripped;
      j.reason = fmt::format("probe {}: {} failures in the last {} runs (limit {} of {}): {}", probe, failures, n,
                             p.window_failures, p.window_runs, last_detail(obs, Outcome::Failed));
      for (size_t i = judged.size() - n; i < judged.size(); ++i)
        if (judged[i]->outcome == Outcome::Failed) j.evidence.push_back(*judged[i]);
      j.since = j.evidence.front().at;
      return j;
    }
  }
  int errors = 0;
  for (auto it = obs.rbegin(); it != obs.rend() && it->outcome == Outcome::Error; ++it) ++errors;
  if (p.max_consecutive_errors > 0 && errors >= p.max_consecutive_errors) {
    j.state = p.on_errors == OnErrors::Trip ? VerdictState::Tripped : VerdictState::Inconclusive;
    j.reason = fmt::format("probe {}: {} consecutive errors (limit {}), cannot judge the target: {}", probe, errors,
                           p.max_consecutive_errors, last_detail(obs, Outcome::Error));
    j.evidence.assign(obs.end() - errors, obs.end());
    j.since = j.evidence.front().at;
    return j;
  }
  // Never healthy on nothing: at least one judged observation, whatever min_observations says.
  if (phase == Phase::Final && static_cast<int>(judged.size()) < std::max(1, p.min_observations)) {
    j.state = VerdictState::Inconclusive;
    j.reason = fmt::format("probe {}: {} judged observation(s), {} needed ({} error(s)){}", probe, judged.size(),
                           std::max(1, p.min_observations), obs.size() - judged.size(),
                           obs.size() > judged.size() ? ": " + last_detail(obs, Outcome::Error) : "");
    return j;
  }
  return j;
}

}  // namespace

const char* to_string(VerdictState s) {
  switch (s) {
    case VerdictState::Healthy: return "healthy";
    case VerdictState::Tripped: return "tripped";
    case VerdictState::Inconclusive: return "inconclusive";
  }
  return "?";
}

const char* to_string(RecoveryState s) {
  switch (s) {
    case RecoveryState::Recovered: return "recovered";
    case RecoveryState::StillFailing: return "still_failing";
    case RecoveryState::Pending: return "pending";
  }
  return "?";
}

namespace {

Verdict evaluate_probes(const PolicySpec& policy, const History& history, Phase phase) {
  Verdict v;
  std::vector<ProbeJudgement> inconclusive;
  for (const auto& probe : policy.probes) {
    ProbeJudgement j = judge_probe(policy, probe, of(history, probe), phase);
    if (j.state == VerdictState::Tripped) {
      // The first tripped probe decides; a trip outranks "cannot judge".
      v.state = VerdictState::Tripped;
      v.reasons = {j.reason};
      v.evidence = std::move(j.evidence);
      v.probe = probe;
      v.since = j.since;
      return v;
    }
    if (j.state == VerdictState::Inconclusive) inconclusive.push_back(std::move(j));
  }
  if (!inconclusive.empty()) {
    v.state = VerdictState::Inconclusive;
    for (auto& j : inconclusive) {
      v.reasons.push_back(j.reason);
      for (auto& o : j.evidence) v.evidence.push_back(o);
    }
    return v;
  }
  for (const auto& probe : policy.probes) {
    const auto& obs = of(history, probe);
    int passed = static_cast<int>(std::count_if(obs.begin(), obs.end(), [](const Observation& o) {
      return o.outcome == Outcome::Passed;
    }));
    v.reasons.push_back(fmt::format("probe {}: {} of {} run(s) passed", probe, passed, obs.size()));
  }
  return v;
}

Recovery probe_recovery(const PolicySpec& policy, const History& fresh) {
  Recovery r;
  // Failing again under the trip rules means the mitigation did not help.
  Verdict again = evaluate_probes(policy, fresh, Phase::Ongoing);
  if (again.state == VerdictState::Tripped) {
    r.state = RecoveryState::StillFailing;
    r.reasons = again.reasons;
    r.evidence = again.evidence;
    return r;
  }
  bool all = true;
  for (const auto& probe : policy.probes) {
    const auto& obs = of(fresh, probe);
    int streak = 0;
    for (auto it = obs.rbegin(); it != obs.rend() && it->outcome == Outcome::Passed; ++it) ++streak;
    if (streak >= policy.recovery_passes) {
      r.reasons.push_back(fmt::format("probe {}: {} consecutive passes after the action", probe, streak));
      r.evidence.insert(r.evidence.end(), obs.end() - streak, obs.end());
    } else {
      all = false;
      r.reasons.push_back(fmt::format("probe {}: {} of {} consecutive passes needed so far{}", probe, streak,
                                      policy.recovery_passes,
                                      obs.empty() ? "" : std::string(": last ") + to_string(obs.back().outcome) +
                                                             (obs.back().outcome == Outcome::Passed ? "" : " — " + obs.back().detail)));
      if (!obs.empty()) r.evidence.push_back(obs.back());
    }
  }
  r.state = all ? RecoveryState::Recovered : RecoveryState::Pending;
  return r;
}


}  // namespace

Verdict evaluate(const PolicySpec& policy, const History& history, Phase phase, const MetricHistory& metrics) {
  std::vector<Verdict> parts;
  if (!policy.probes.empty()) parts.push_back(evaluate_probes(policy, history, phase));
  for (const auto& c : policy.metrics) {
    ConditionVerdict cv = evaluate_condition(c, metrics, phase);
    Verdict v{.state = cv.state, .reasons = {cv.reason}, .metric_evidence = std::move(cv.evidence),
              .stats = std::move(cv.stats), .probe = c.id, .since = cv.since};
    parts.push_back(std::move(v));
  }
  auto count = [&](VerdictState s) {
    return std::count_if(parts.begin(), parts.end(), [&](const Verdict& v) { return v.state == s; });
  };
  size_t with_stats = static_cast<size_t>(std::count_if(parts.begin(), parts.end(), [](const Verdict& v) { return !v.stats.empty(); }));
  auto merged = [&](VerdictState state, auto pick) {
    Verdict out{.state = state};
    for (auto& p : parts) {
      if (!pick(p)) continue;
      // Several conditions' numbers side by side: each under its own id.
      for (const auto& [k, val] : p.stats) out.stats[with_stats > 1 ? p.probe + "." + k : k] = val;
      out.reasons.insert(out.reasons.end(), p.reasons.begin(), p.reasons.end());
      out.evidence.insert(out.evidence.end(), p.evidence.begin(), p.evidence.end());
      out.metric_evidence.insert(out.metric_evidence.end(), p.metric_evidence.begin(), p.metric_evidence.end());
      if (out.probe.empty()) out.probe = p.probe;
      out.since = std::max(out.since, p.since);
    }
    return out;
  };
  auto is = [](VerdictState s) { return [s](const Verdict& v) { return v.state == s; }; };
  auto all_parts = [](const Verdict&) { return true; };
  size_t n = parts.size();
  if (policy.combine == Combine::All && n > 1) {
    // Every part must hold (scope plus confirmation); one healthy part is health.
    if (static_cast<size_t>(count(VerdictState::Tripped)) == n) return merged(VerdictState::Tripped, all_parts);
    // At the end of a bake a part that cannot judge (source down, no data)
    // makes the whole policy say so, even if another part looked healthy.
    if (phase == Phase::Final && count(VerdictState::Inconclusive) > 0) return merged(VerdictState::Inconclusive, all_parts);
    if (count(VerdictState::Healthy) > 0) return merged(VerdictState::Healthy, all_parts);
    return merged(VerdictState::Inconclusive, all_parts);
  }
  // any: the first trip decides; a trip outranks "cannot judge".
  for (auto& p : parts)
    if (p.state == VerdictState::Tripped) return p;
  if (count(VerdictState::Inconclusive) > 0) return merged(VerdictState::Inconclusive, is(VerdictState::Inconclusive));
  return merged(VerdictState::Healthy, all_parts);
}

Recovery evaluate_recovery(const PolicySpec& policy, const History& fresh, const MetricHistory& fresh_metrics) {
  // Probes observe users now, and a canary test counts only what both arms
  // served after the action: either refutes a step at once. Other metric
  // conditions lag behind a mitigation (rate windows, scrape intervals), so
  // they can confirm recovery but never refute it before verify_for ends.
  // A canary whose ratio bound is not yet below max_ratio is pending: it never
  // confirms on its own; with combine = "all" another recovered part does.
  std::vector<RecoveryState> states;
  Recovery out;
  if (!policy.probes.empty()) {
    Recovery pr = probe_recovery(policy, fresh);
    states.push_back(pr.state);
    out.reasons = pr.reasons;
    out.evidence = pr.evidence;
  }
  for (const auto& c : policy.metrics) {
    // A log condition judges the whole window since the release: what it
    // found before the action stays in its evidence, so it can neither
    // confirm nor refute a recovery; the probes and metrics do.
    if (!c.log.empty()) continue;
    std::string reason;
    RecoveryState st = condition_recovery(c, fresh_metrics, policy.recovery_passes, reason);
    bool refutes = c.kind == MetricCondition::Kind::Canary;
    states.push_back(st == RecoveryState::StillFailing && !refutes ? RecoveryState::Pending : st);
    out.reasons.push_back(reason);
  }
  bool any_still = std::count(states.begin(), states.end(), RecoveryState::StillFailing) > 0;
  size_t recovered = static_cast<size_t>(std::count(states.begin(), states.end(), RecoveryState::Recovered));
  if (any_still) out.state = RecoveryState::StillFailing;
  else if (policy.combine == Combine::All && states.size() > 1) out.state = recovered > 0 ? RecoveryState::Recovered : RecoveryState::Pending;
  else out.state = recovered == states.size() ? RecoveryState::Recovered : RecoveryState::Pending;
  return out;
}

}  // namespace dg
