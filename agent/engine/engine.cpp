#include "agent/engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>

#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"
#include "agent/engine/records.h"
#include "agent/engine/signal_reader.h"
#include "probes/browser/artifacts.h"

namespace dg {

const char* to_string(LadderState s) {
  switch (s) {
    case LadderState::Watching: return "watching";
    case LadderState::Tripped: return "tripped";
    case LadderState::Mitigating: return "mitigating";
    case LadderState::Verifying: return "verifying";
    case LadderState::Mitigated: return "mitigated";
    case LadderState::Escalated: return "escalated";
    case LadderState::Failed: return "failed";
    case LadderState::Paused: return "paused";
  }
  return "?";
}

namespace {

namespace json = boost::json;
using records::stats_json;
using records::to_json;

using CanaryCounts = std::map<std::string, CanaryCounter>;

// Appends to a signal's bounded history (probe observations or metric
// readings), keeping the newest `limit`.
template <class Histories, class Item>
void record(Histories& h, Item item, size_t limit) {
  auto& v = h[item.signal];
  v.push_back(std::move(item));
  if (v.size() > limit) v.erase(v.begin(), v.begin() + static_cast<long>(v.size() - limit));
}

// How much of a signal's history its policies can look at: the longest
// streak or window any rule needs, twice over (errors interleave with judged
// runs), never more than kHistoryLimit. A watcher with a thousand probes
// keeps tens of observations each, not hundreds.
std::map<std::string, size_t> history_limits(const Config& cfg) {
  std::map<std::string, size_t> out;
  auto need = [&](const std::string& signal, long long n) {
    size_t v = static_cast<size_t>(std::clamp<long long>(2 * n + 4, 16, static_cast<long long>(kHistoryLimit)));
    out[signal] = std::max(out[signal], v);
  };
  for (const auto& p : cfg.policies) {
    long long n = std::max({p.consecutive_failures, p.window_runs, p.max_consecutive_errors, p.recovery_passes,
                            p.min_observations});
    for (const auto& probe : p.probes) need(probe, n);
    for (const auto& c : p.metrics) {
      long long hold = c.interval.count() > 0 ? c.hold_for.count() / c.interval.count() + 2 : 2;
      need(c.id, std::max<long long>({hold, c.max_source_errors + 2, p.recovery_passes}));
      need(c.id + "#baseline", 1);
    }
  }
  return out;
}

long long ms(TimePoint a, TimePoint b) { return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count(); }

// Splits a raw canary look (signal_reader.h) into its four arms and folds it.
std::vector<SeriesValue> fold_canary(CanaryCounter& counter, const std::vector<SeriesValue>& raw) {
  std::array<std::vector<SeriesValue>, 4> arms;
  for (const auto& s : raw) {
    SeriesValue v = s;
    auto it = std::find_if(v.labels.begin(), v.labels.end(), [](const auto& l) { return l.first == kArmLabel; });
    if (it == v.labels.end()) continue;
    int arm = it->second[0] - '0';
    v.labels.erase(it);
    if (arm >= 0 && arm < 4) arms[arm].push_back(std::move(v));
  }
  counter.look({&arms[0], &arms[1], &arms[2], &arms[3]});
  return canary_series(counter.test);
}


// A canary condition's counting across a restart: the bases per series and
// the folded test, so counting goes on from where it was.
json::object arm_json(const ArmCounts& a) {
  return {{"ce", a.canary_errors}, {"ct", a.canary_total}, {"be", a.baseline_errors}, {"bt", a.baseline_total}};
}

double num_of(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return 0;
}

ArmCounts arm_of(const json::object& o) {
  return {num_of(o, "ce"), num_of(o, "ct"), num_of(o, "be"), num_of(o, "bt")};
}

json::object canary_json(const CanaryCounter& c) {
  json::array arms;
  for (const auto& a : c.arms) {
    json::object series;
    for (const auto& [k, v] : a.series) series[k] = json::array{v.last, v.counted};
    arms.push_back(std::move(series));
  }
  return {{"started", c.started}, {"arms", arms},
          {"test", {{"max_ratio", c.test.max_ratio}, {"ratios", json::array(c.test.ratios.begin(), c.test.ratios.end())},
                    {"loglik", json::array(c.test.loglik.begin(), c.test.loglik.end())},
                    {"counted", arm_json(c.test.counted)}, {"pending", arm_json(c.test.pending)}}}};
}

std::optional<CanaryCounter> canary_of_json(const json::value& v, double max_ratio) {
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  CanaryCounter c(max_ratio);
  auto doubles = [](const json::value* a, std::vector<double>& out) {
    out.clear();
    if (!a || !a->is_array()) return false;
    for (const auto& x : a->as_array()) out.push_back(x.is_double() ? x.as_double() : x.is_int64() ? static_cast<double>(x.as_int64()) : 0);
    return true;
  };
  const auto* t = o.if_contains("test");
  const auto* arms = o.if_contains("arms");
  if (!t || !t->is_object() || !arms || !arms->is_array() || arms->as_array().size() != 4) return std::nullopt;
  const auto& to = t->as_object();
  if (num_of(to, "max_ratio") != max_ratio) return std::nullopt;  // a changed condition counts anew
  if (!doubles(to.if_contains("ratios"), c.test.ratios) || !doubles(to.if_contains("loglik"), c.test.loglik) ||
      c.test.ratios.size() != c.test.loglik.size())
    return std::nullopt;
  if (const auto* x = to.if_contains("counted"); x && x->is_object()) c.test.counted = arm_of(x->as_object());
  if (const auto* x = to.if_contains("pending"); x && x->is_object()) c.test.pending = arm_of(x->as_object());
  for (size_t i = 0; i < 4; ++i) {
    const auto& a = arms->as_array()[i];
    if (!a.is_object()) return std::nullopt;
    for (const auto& [k, pair] : a.as_object()) {
      if (!pair.is_array() || pair.as_array().size() != 2) return std::nullopt;
      auto d = [](const json::value& x) { return x.is_double() ? x.as_double() : x.is_int64() ? static_cast<double>(x.as_int64()) : 0.0; };
      c.arms[i].series[std::string(k)] = {d(pair.as_array()[0]), d(pair.as_array()[1])};
    }
  }
  if (const auto* st = o.if_contains("started"); st && st->is_bool()) c.started = st->as_bool();
  return c;
}

}  // namespace

// The flip a dead run left on this step's flag, as the undo of that step.
std::optional<FlagOutcome> kept_flip(const std::vector<InheritedFlip>& flips, const FlagActionSpec& f, const char* why) {
  std::optional<FlagOutcome> out;  // the last one, should a flag appear twice
  for (const auto& k : flips)
    if (k.provider == f.provider && k.flag == f.flag)
      out = FlagOutcome{true, {f.flag, k.previous_state}, {f.flag, k.written_state}, why};
  return out;
}

// One policy's machine: its state, and the ladder of its current trip.
struct Ladder {
  const PolicySpec* spec = nullptr;
  LadderState state = LadderState::Watching;
  std::string release;  ///< the release it judges (a ladder in flight keeps the one it tripped on)
  TimePoint release_started{};
  LadderState resume_to = LadderState::Watching;  ///< Paused: the state resume returns to
  std::optional<TimePoint> lifting_until;          ///< a lifted mitigation is watched until then
  std::optional<Incident> lifted;                  ///< the incident a trip while lifting continues
  std::string paused_by;
  bool dirty = true;  ///< a signal it judges changed since it was last judged
  bool dry = false;
  bool ended = false;  ///< the ladder of this trip has finished (any way)
  bool open_pending = false;  ///< the incident's first event waits for the first step's side effect
  PolicyResult res;
  Incident incident;
  std::optional<ContinuedIncident> continued;
  size_t step = 0;
  ActionRecord rec;
  std::optional<FlagOutcome> undo;  ///< a flip this step wrote: what it replaced and what it wrote
  // A rollback step held back by the rails: until when, and why.
  std::optional<TimePoint> wait_until;
  std::string waiting;    ///< "cooldown" | "confirm" | "" (not waiting)
  bool confirmed = false;  ///< this step's veto window has passed or was approved
  std::string waited;      ///< what the step waited for, for its record
  // verification of the current step
  TimePoint since{}, deadline{};
  History fresh;
  MetricHistory fresh_metrics;
  CanaryCounts fresh_canary;
  Recovery last_recovery;
};

struct Engine::Impl {
  std::shared_ptr<const Config> cfg;
  EngineEnv env;
  EngineOptions opt;
  History history;
  MetricHistory metric_history;
  CanaryCounts canary;
  std::map<std::string, const MetricCondition*> conditions;
  std::map<std::string, size_t> limits = history_limits(*cfg);
  std::vector<Ladder> ladders;  // config order
  // Which ladders judge a signal, and where a policy is: a watcher with a
  // thousand policies looks up, it does not scan, on every observation.
  std::map<std::string, std::vector<size_t>> by_signal;
  std::map<std::string, size_t> by_name;
  static inline const std::vector<size_t> kNone{};
  const std::vector<size_t>& judging(const std::string& signal) const {
    auto it = by_signal.find(signal);
    return it == by_signal.end() ? kNone : it->second;
  }

  size_t limit(const std::string& signal) const {
    auto it = limits.find(signal);
    return it == limits.end() ? kHistoryLimit : it->second;
  }
  std::set<std::string> urgent;
  // Automated rollbacks per service (their intents), for the budget and the
  // cooldown: from the journal at start (since its checkpoint, which carries
  // the earlier ones), then as they happen.
  std::map<std::string, std::deque<TimePoint>> rollback_times;
  std::set<std::string> warned;
  std::map<std::string, std::string> last_said;
  bool stopping = false;
  bool journal_failed = false;
  Ladder* frozen_by = nullptr;  // exclusive: the ladder that froze the others

  Impl(std::shared_ptr<const Config> c, EngineEnv e, EngineOptions o)
      : cfg(std::move(c)), env(std::move(e)), opt(std::move(o)) {
    for (const auto& p : cfg->policies) {
      size_t idx = ladders.size();
      by_name[p.name] = idx;
      for (const auto& probe : p.probes) by_signal[probe].push_back(idx);
      for (const auto& m : p.metrics) {
        by_signal[m.id].push_back(idx);
        by_signal[m.id + "#baseline"].push_back(idx);
      }
      Ladder l;
      l.spec = &p;
      auto r = opt.releases.find(p.service);
      l.release = r != opt.releases.end() ? r->second : opt.release;
      l.release_started = opt.release_started;
      ladders.push_back(std::move(l));
      for (const auto& m : p.metrics) conditions[m.id] = &m;
    }
    load_rollback_times();
  }

  // The rollbacks the journal holds (every run's, across restarts), as
  // times on this clock; only those inside a service's budget window matter.
  void load_rollback_times() {
    TimePoint now = env.clock.now();
    auto wall_now = env.clock.wall();
    auto add = [&](const std::string& service, const std::string& at) {
      auto t = text::parse_rfc3339(at);
      if (!t) return;
      rollback_times[service].push_back(now - (wall_now - *t));
    };
    for_each_record_since_checkpoint(env.journal.path(), [&](const json::object& rec) {
      std::string kind = string_at(rec, "kind");
      const json::object* d = rec.if_contains("data") && rec.at("data").is_object() ? &rec.at("data").as_object() : nullptr;
      if (!d) return true;
      if (kind == "checkpoint") {
        rollback_times.clear();  // the checkpoint's list is everything before it
        const auto* sec = d->if_contains("sections");
        const auto* eng = sec && sec->is_object() ? sec->as_object().if_contains("engine") : nullptr;
        const auto* rb = eng && eng->is_object() ? eng->as_object().if_contains("rollbacks") : nullptr;
        if (rb && rb->is_object())
          for (const auto& [svc, times] : rb->as_object())
            if (times.is_array())
              for (const auto& t : times.as_array())
                if (t.is_string()) add(std::string(svc), std::string(t.as_string()));
      } else if (kind == "action_intent" && string_at(*d, "action") == "rollback") {
        const PolicySpec* p = cfg->policy(string_at(rec, "policy"));
        add(p ? p->service : string_at(rec, "service"), string_at(rec, "time"));
      }
      return true;
    });
    for (auto& [svc, times] : rollback_times) std::sort(times.begin(), times.end());
  }

  ActionRails rails_of(const PolicySpec& p) const {
    const ServiceSpec* s = cfg->service(p.service);
    return s ? s->rails : cfg->agent.rails;
  }

  // The rails a rollback passes before it runs (a flip never waits): the
  // budget (spent: the step is blocked and the ladder escalates), the
  // cooldown after the service's last rollback and the veto window (the step
  // waits). True when it may run now.
  bool rollback_may_run(Ladder& l, size_t i, const RollbackActionSpec& rb) {
    const PolicySpec& policy = *l.spec;
    ActionRails rails = rails_of(policy);
    TimePoint now = env.clock.now();
    auto& times = rollback_times[policy.service];
    while (!times.empty() && times.front() <= now - rails.rollback_window) times.pop_front();
    auto wall = [&](TimePoint t) { return text::rfc3339(env.clock.to_wall(t)); };
    if (static_cast<int>(times.size()) >= rails.max_rollbacks) {
      std::string why =
          rails.max_rollbacks == 0
              ? fmt::format("automated rollbacks are off for service {} (max_rollbacks = 0)", policy.service)
              : fmt::format("rollback budget of service {} spent: {} automated rollback(s) in the last {} (max_rollbacks "
                            "= {}); the next is allowed at {}",
                            policy.service, times.size(), format_duration(rails.rollback_window), rails.max_rollbacks,
                            wall(times.front() + rails.rollback_window));
      append("action_blocked", {{"policy", policy.name},
                                {"data", {{"action", "rollback"}, {"step", i + 1}, {"rollback", rb.rollback},
                                          {"reason", "budget"}, {"detail", why}, {"used", times.size()},
                                          {"max_rollbacks", rails.max_rollbacks},
                                          {"window_ms", rails.rollback_window.count()}}}});
      env.progress.event("  " + why);
      l.rec.outcome = "blocked";
      l.rec.detail = why;
      emit({.kind = EngineEvent::Kind::Action, .policy = policy.name, .action = "rollback", .outcome = "blocked"});
      step_done(l, false);
      return false;
    }
    if (rails.cooldown.count() > 0 && !times.empty() && now < times.back() + rails.cooldown) {
      hold(l, i, rb, "cooldown", times.back() + rails.cooldown,
           fmt::format("waits for the cooldown of service {} ({} after its last rollback)", policy.service,
                       format_duration(rails.cooldown)));
      return false;
    }
    if (rb.confirm_within && !l.confirmed) {
      hold(l, i, rb, "confirm", now + *rb.confirm_within,
           fmt::format("waits {} for a human to approve or veto it (deployguard approve|veto --policy {})",
                       format_duration(*rb.confirm_within), policy.name));
      return false;
    }
    return true;
  }

  void hold(Ladder& l, size_t i, const RollbackActionSpec& rb, const char* why, TimePoint until, std::string what) {
    l.waiting = why;
    l.wait_until = until;
    std::string line = fmt::format("rollback {} (step {}) {}, until {}", rb.rollback, i + 1, what,
                                   text::rfc3339(env.clock.to_wall(until)));
    l.waited += (l.waited.empty() ? "" : "; ") + std::string(why == std::string("confirm") ? "veto window" : "cooldown");
    append("action_delayed", {{"policy", l.spec->name},
                              {"data", {{"action", "rollback"}, {"step", i + 1}, {"rollback", rb.rollback},
                                        {"reason", why}, {"until", text::rfc3339(env.clock.to_wall(until))},
                                        {"detail", line}}}});
    env.progress.event("  " + line);
    l.incident.actions.push_back(line);
    send(l, "updated");
    note(l);
  }

  // A held rollback's wait ended: its window passed (silence runs it) or its
  // cooldown did; the step starts again and passes the rails again.
  void wait_over(Ladder& l) {
    std::string why = std::exchange(l.waiting, "");
    l.wait_until.reset();
    if (why == "confirm") {
      l.confirmed = true;
      append("rollback_confirmed", {{"policy", l.spec->name},
                                    {"data", {{"step", l.step + 1}, {"by", "nobody vetoed within the window"}}}});
    }
    start_step(l, l.step);
  }

  // A human's answer to a rollback held in its veto window.
  Result<void> decide(const std::string& name, bool approve, const std::string& who, const std::string& reason) {
    Ladder* l = find(name);
    if (!l) return fail(fmt::format("no policy named '{}'", name));
    if (l->waiting != "confirm")
      return fail(fmt::format("policy {} has no rollback waiting for approval (state {})", name, to_string(l->state)));
    const auto& rb = std::get<RollbackActionSpec>(l->spec->actions[l->step].kind);
    l->waiting.clear();
    l->wait_until.reset();
    append(approve ? "rollback_approved" : "rollback_vetoed",
           {{"policy", name}, {"data", {{"step", l->step + 1}, {"rollback", rb.rollback}, {"by", who}, {"reason", reason}}}});
    if (approve) {
      l->confirmed = true;
      l->waited += " (approved by " + (who.empty() ? std::string("an operator") : who) + ")";
      start_step(*l, l->step);
    } else {
      l->rec.outcome = "vetoed";
      l->rec.detail = fmt::format("vetoed by {}{}", who.empty() ? "an operator" : who, reason.empty() ? "" : ": " + reason);
      env.progress.event(fmt::format("  rollback {} {}", rb.rollback, l->rec.detail));
      emit({.kind = EngineEvent::Kind::Action, .policy = name, .action = "rollback", .outcome = "vetoed"});
      step_done(*l, false);
    }
    return {};
  }

  // Journal failures must not be silent: the engine carries on acting (the
  // mitigation matters more), but says so loudly; drivers end non-zero.
  std::optional<long long> append(const std::string& kind, json::object fields) {
    auto r = env.journal.append(kind, std::move(fields));
    if (!r) {
      journal_failed = true;
      env.progress.event("JOURNAL WRITE FAILED: " + r.error().message);
      return std::nullopt;
    }
    return *r;
  }

  void mark(const std::string& signal) {
    for (size_t i : judging(signal)) ladders[i].dirty = true;
  }

  // Quiet: say it when what a signal reports changes, not on every run.
  void say(const std::string& what, const std::string& signal, std::string said, bool ok) {
    auto& last = last_said[signal];
    if (said != last && !(last.empty() && ok)) env.progress.event(fmt::format("{} {} {}", what, signal, said));
    last = std::move(said);
  }

  // When the last signal arrived: a flip journals how long the agent itself
  // took from the deciding observation to the flag written (its overhead).
  std::chrono::steady_clock::time_point last_input = std::chrono::steady_clock::now();

  void observe(Observation o) {
    last_input = std::chrono::steady_clock::now();
    say("probe", o.signal, o.outcome == Outcome::Passed ? "passed" : std::string(to_string(o.outcome)) + ": " + o.detail,
        o.outcome == Outcome::Passed);
    mark(o.signal);
    for (size_t i : judging(o.signal))
      if (Ladder& l = ladders[i]; l.state == LadderState::Verifying && o.at >= l.since) record(l.fresh, o, limit(o.signal));
    size_t n = limit(o.signal);
    record(history, std::move(o), n);
  }

  void read(MetricReading r) {
    last_input = std::chrono::steady_clock::now();
    say("metric", r.signal, r.status == ReadingStatus::Ok ? "ok" : std::string(to_string(r.status)) + ": " + r.detail,
        r.status == ReadingStatus::Ok);
    for (const auto& w : r.warnings)
      if (warned.insert(r.signal + "\x1f" + w).second)
        append("metric_warning", {{"data", {{"condition", r.signal}, {"query", r.query}, {"warning", w}}}});
    if (r.signal.ends_with("#baseline"))
      append("baseline_taken", {{"data", {{"condition", r.signal.substr(0, r.signal.size() - 9)}, {"reading", to_json(r)}}}});
    mark(r.signal);
    auto c = conditions.find(r.signal);
    bool canary = c != conditions.end() && c->second->kind == MetricCondition::Kind::Canary &&
                  r.status == ReadingStatus::Ok;
    for (size_t i : judging(r.signal)) {
      Ladder& l = ladders[i];
      if (l.state != LadderState::Verifying || r.at < l.since) continue;
      MetricReading fresh = r;
      // Recovery counts the canary again from the first look after the action.
      if (canary)
        fresh.series = fold_canary(l.fresh_canary.try_emplace(r.signal, c->second->max_ratio).first->second, r.series);
      record(l.fresh_metrics, std::move(fresh), limit(r.signal));
    }
    if (canary) r.series = fold_canary(canary_of(*c->second), r.series);
    size_t n = limit(r.signal);
    record(metric_history, std::move(r), n);
  }

  CanaryCounter& canary_of(const MetricCondition& c) { return canary.try_emplace(c.id, c.max_ratio).first->second; }

  bool judged(const Ladder& l) const { return !frozen_by || frozen_by == &l; }

  void advance() {
    TimePoint now = env.clock.now();
    for (auto& l : ladders) {
      if (!judged(l)) continue;
      if (l.state == LadderState::Watching && l.lifting_until && now >= *l.lifting_until) lifted(l);
      if (l.state == LadderState::Watching && l.dirty) {
        l.dirty = false;
        Verdict v = evaluate(*l.spec, history, Phase::Ongoing, metric_history);
        if (v.state == VerdictState::Tripped) {
          if (opt.exclusive) frozen_by = &l;
          trip(l, v);
          if (opt.exclusive) return;
        }
      } else if (l.state == LadderState::Verifying) {
        if (l.dirty) {
          l.dirty = false;
          l.last_recovery = evaluate_recovery(*l.spec, l.fresh, l.fresh_metrics);
          if (l.last_recovery.state != RecoveryState::Pending) {
            conclude(l, l.last_recovery);
            continue;
          }
          env.progress.status(fmt::format("verifying {}: {}", l.spec->name, text::join(l.last_recovery.reasons, "; ")));
        }
        if (now >= l.deadline || stopping) unconfirmed(l);
      } else if (l.state == LadderState::Mitigating && l.wait_until && (now >= *l.wait_until || stopping)) {
        wait_over(l);
      }
    }
  }

  // The fix held for verify_for after the flag was restored.
  void lifted(Ladder& l) {
    l.lifting_until.reset();
    append("mitigation_lifted", {{"policy", l.spec->name},
                                 {"data", {{"release", l.release}, {"incident", l.lifted ? l.lifted->key : ""}}}});
    env.progress.event(fmt::format("policy {}: the fix in release {} held; mitigation lifted", l.spec->name, l.release));
    if (l.lifted) {
      Incident& i = *l.lifted;
      i.actions.push_back(fmt::format("mitigation lifted: release {} fixed it", l.release));
      i.status = "fixed";
      i.event = "resolved";
      i.at = env.clock.now();
      env.notifier.notify(i, l.spec->incident_sinks, opt.dry_run || l.spec->dry_run);
    }
    l.lifted.reset();
    note(l);
  }

  void unconfirmed(Ladder& l) {
    Recovery r = l.last_recovery;
    r.reasons.insert(r.reasons.begin(),
                     fmt::format("recovery not confirmed within verify_for {}", format_duration(l.spec->verify_for)));
    conclude(l, r);
  }

  std::string scope_of(const PolicySpec& policy) const {
    std::vector<std::string> parts;
    if (!policy.scope.empty()) parts.push_back(policy.scope);
    for (const auto& a : policy.actions)
      if (const auto* f = std::get_if<FlagActionSpec>(&a.kind); f && !f->segment.empty())
        parts.push_back("segment: " + f->segment);
    if (parts.empty()) parts.push_back("all users of " + cfg->agent.service);
    return text::join(parts, "; ");
  }

  // The latest failed run with a screenshot among the policy's probes,
  // started at most 30 s before the first failure (older is another story).
  const Observation* seen_since(const PolicySpec& policy, TimePoint since) const {
    const Observation* best = nullptr;
    for (const auto& name : policy.probes) {
      auto it = history.find(name);
      if (it == history.end()) continue;
      for (auto o = it->second.rbegin(); o != it->second.rend(); ++o) {
        if (o->at + std::chrono::seconds(30) < since) break;
        bool shot = std::any_of(o->artifacts.begin(), o->artifacts.end(), [](const Artifact& a) { return a.kind == "screenshot"; });
        if (o->outcome == Outcome::Failed && shot) {
          if (!best || o->at > best->at) best = &*o;
          break;
        }
      }
    }
    return best;
  }

  static void attach(PolicyResult& res, const Observation& seen) {
    res.seen = seen.artifacts;
    pin_artifacts(seen.artifacts);  // an incident references them: never pruned while we run
    for (const auto& a : seen.artifacts)
      if (a.kind == "screenshot")
        res.experience += fmt::format(" | what they see ({}): {} (screenshot {}, sha256 {})", seen.signal,
                                      seen.detail.substr(0, seen.detail.find("; ")), a.path, a.sha256);
  }

  void send(Ladder& l, const std::string& event) {
    if (l.open_pending) flush_open(l);
    if (l.res.seen.empty() && l.res.first_failure)
      if (const Observation* seen = seen_since(*l.spec, *l.res.first_failure)) {
        attach(l.res, *seen);
        l.incident.experience = l.res.experience;
        append("evidence_added", {{"policy", l.spec->name},
                                  {"data", {{"incident", l.incident.key}, {"evidence", to_json(std::vector{*seen})}}}});
      }
    l.incident.event = event;
    l.incident.at = env.clock.now();
    env.notifier.notify(l.incident, l.spec->incident_sinks, l.dry);
  }

  void trip(Ladder& l, const Verdict& v) {
    const PolicySpec& policy = *l.spec;
    l.state = LadderState::Tripped;
    l.ended = false;
    l.dry = opt.dry_run || policy.dry_run;
    l.res = PolicyResult{.name = policy.name, .reasons = v.reasons, .probe = v.probe, .release = l.release};
    l.waiting.clear();
    l.wait_until.reset();
    PolicyResult& res = l.res;
    res.first_failure = v.since;
    res.tripped_at = env.clock.now();
    std::string excerpt;
    for (auto it = v.evidence.rbegin(); it != v.evidence.rend() && excerpt.empty(); ++it) excerpt = it->excerpt;
    res.experience = v.reasons.empty() ? "" : v.reasons.front();
    if (!excerpt.empty()) res.experience += " | evidence: " + excerpt;
    // What users see, when a probe of the policy saved it (a browser probe's
    // screenshot); it joins the journaled evidence, so the file is referenced
    // by its hash. A browser run that is slower than the deciding probe
    // comes later: send() attaches it then.
    std::vector<Observation> evidence = v.evidence;
    if (const Observation* seen = seen_since(policy, v.since)) {
      bool in = std::any_of(evidence.begin(), evidence.end(),
                            [&](const Observation& o) { return o.signal == seen->signal && o.at == seen->at; });
      if (!in) evidence.push_back(*seen);
      attach(res, *seen);
    }

    env.progress.event(fmt::format("TRIPPED policy {}: {}", policy.name, text::join(v.reasons, "; ")));
    // The incident is journaled with the trip, so a run that finds this one
    // dead continues it (reconcile.h); a trip that continues an interrupted
    // run's incident keeps that incident's key.
    l.incident = Incident{};
    Incident& incident = l.incident;
    l.continued.reset();
    if (auto c = opt.continue_incidents.find(policy.name); c != opt.continue_incidents.end()) {
      l.continued = c->second;
      opt.continue_incidents.erase(c);  // one trip continues it; a later one is a new incident
    } else if (l.lifted) {
      // Tripped again while its mitigation was being lifted: the same incident.
      l.continued = ContinuedIncident{.key = l.lifted->key, .actions = l.lifted->actions};
    }
    l.lifted.reset();
    l.lifting_until.reset();
    if (l.continued) {
      incident.key = l.continued->key;
      incident.actions = l.continued->actions;
    } else {
      incident.key = "dg-" + sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}", cfg->agent.service, cfg->agent.environment,
                                                    policy.name, l.release, text::rfc3339(*res.tripped_at),
                                                    env.journal.path()))
                                 .substr(0, 24);
    }
    auto seq = append("policy_tripped", {{"policy", policy.name},
                                         {"data", {{"reasons", to_json(v.reasons)}, {"probe", v.probe},
                                                   {"since", text::rfc3339(v.since)}, {"dry_run", l.dry},
                                                   {"evidence", to_json(evidence)}, {"release", l.release},
                                                   {"metric_evidence", to_json(v.metric_evidence)},
                                                   {"stats", stats_json(v)},
                                                   {"incident", {{"key", incident.key}, {"affected", scope_of(policy)},
                                                                 {"experience", res.experience}}}}}});
    res.incident_key = incident.key;
    incident.title = fmt::format("{}: {} tripped after release {}", policy.service, policy.name, l.release);
    incident.service = policy.service;
    incident.environment = cfg->agent.environment;
    incident.release = l.release;
    incident.policy = policy.name;
    incident.scope = scope_of(policy);
    incident.experience = res.experience;
    incident.since = v.since;
    incident.failure_ratio = failure_ratio_of(v.evidence);
    incident.journal = fmt::format("{}#{}", env.journal.path(), seq.value_or(0));
    incident.status = l.dry ? "dry_run" : "mitigating";
    if (!l.continued) emit({.kind = EngineEvent::Kind::IncidentOpened, .policy = policy.name});
    // No state record yet: policy_tripped says it, and each record is an
    // fsync between the trip and the flip. A restart that finds the trip
    // without a later state continues its incident (reconcile.h).
    emit({.kind = EngineEvent::Kind::State, .policy = policy.name, .state = l.state});
    if (l.dry) {
      note(l);
      send(l, l.continued ? "updated" : "opened");
      return dry_run(l);
    }
    // The first step starts before the incident is sent: the notifier
    // journals its deliveries, and those writes must not stand between the
    // trip and the flip. The opening event goes out right after the step's
    // side effect (or as soon as a rollback is in flight).
    l.open_pending = true;
    start_step(l, 0);
    flush_open(l);
  }

  void flush_open(Ladder& l) {
    if (!l.open_pending) return;
    l.open_pending = false;
    send(l, l.continued ? "updated" : "opened");
  }

  void dry_run(Ladder& l) {
    const PolicySpec& policy = *l.spec;
    for (size_t i = 0; i < policy.actions.size(); ++i) {
      const ActionSpec& action = policy.actions[i];
      ActionRecord rec{.description = action.describe(), .type = action.type, .at = env.clock.now()};
      rec.outcome = "would_have";
      rec.detail = i == 0 ? "first step" : "if the previous step did not recover users";
      json::object data{{"action", action.type}, {"step", i + 1}, {"description", rec.description},
                        {"condition", rec.detail}};
      if (const auto* f = std::get_if<FlagActionSpec>(&action.kind)) {
        auto pv =
            env.runtime.flag_providers.at(f->provider)->preview({f->flag, f->variant, f->segment, f->segment_jsonlogic});
        if (pv) {
          data["current_state"] = embed_json(pv->previous.state_json);
          data["would_write"] = embed_json(pv->current.state_json);
          data["would_change"] = pv->changed;
        } else {
          data["preview_error"] = pv.error().message;
        }
      }
      append("would_have", {{"policy", policy.name}, {"data", data}});
      env.progress.event(fmt::format("dry run: would {}", rec.description));
      l.res.actions.push_back(rec);
    }
    l.res.state = "tripped_dry_run";
    l.ended = true;
    send(l, "updated");
  }

  // Step i of the ladder: intent, side effect, outcome; then verification or
  // escalation. A rollback may finish later (watch); a flip finishes here.
  void start_step(Ladder& l, size_t i) {
    const PolicySpec& policy = *l.spec;
    if (i >= policy.actions.size()) return failed(l);
    const ActionSpec& action = policy.actions[i];
    if (stopping) {
      // Asked to stop: finish the step in flight, never start the next one.
      l.res.state = "mitigation_failed";
      l.res.reasons.push_back(fmt::format("stopped by a signal before step {} ({})", i + 1, action.describe()));
      env.progress.event(l.res.reasons.back());
      append("mitigation_failed", {{"policy", policy.name}, {"data", {{"steps_done", i}, {"reason", l.res.reasons.back()}}}});
      l.incident.status = "mitigation_failed";
      send(l, "updated");
      return end(l, LadderState::Failed);
    }
    if (l.step != i || l.state != LadderState::Mitigating) {
      l.confirmed = false;
      l.waited.clear();
    }
    l.step = i;
    l.state = LadderState::Mitigating;
    // A flip is done within this call, and its intent and outcome are
    // journaled: only a rollback, which takes long, gets its state record.
    if (std::holds_alternative<RollbackActionSpec>(action.kind)) note(l);
    else emit({.kind = EngineEvent::Kind::State, .policy = policy.name, .state = l.state});
    l.rec = ActionRecord{.description = action.describe(), .type = action.type, .at = env.clock.now()};
    l.undo.reset();
    env.progress.event(fmt::format("step {}: {}", i + 1, l.rec.description));
    if (const auto* f = std::get_if<FlagActionSpec>(&action.kind)) return step_done(l, flip(l, *f, i + 1));
    const auto& rb = std::get<RollbackActionSpec>(action.kind);
    if (!rollback_may_run(l, i, rb)) return;
    if (!append("action_intent",
                {{"policy", policy.name}, {"data", {{"action", "rollback"}, {"step", i + 1}, {"rollback", rb.rollback}}}})) {
      l.rec.outcome = "failed";
      l.rec.detail = "not attempted: the intent could not be journaled";
      return step_done(l, false);
    }
    rollback_times[policy.service].push_back(env.clock.now());
    Ladder* lp = &l;
    env.run_rollback(*env.runtime.rollbacks.at(rb.rollback), [this, lp, i, name = rb.rollback](Result<RollbackOutcome> r) {
      json::object out{{"action", "rollback"}, {"step", i + 1}, {"rollback", name}};
      bool ok = r && r->ok;
      out["ok"] = ok;
      if (r) {
        out["exit_code"] = r->exit_code;
        out["timed_out"] = r->timed_out;
        out["elapsed_ms"] = r->elapsed.count();
        out["output"] = r->output;
        if (r->check)  // "is the previous release serving now?", read back after the action
          out["check"] = {{"ok", r->check->ok}, {"attempts", r->check->attempts}, {"last_status", r->check->last_status},
                          {"elapsed_ms", r->check->elapsed.count()}, {"detail", r->check->detail}};
        lp->rec.detail = r->detail + (r->output.empty() ? "" : ": " + text::excerpt(r->output, 200));
      } else {
        out["error"] = r.error().message;
        lp->rec.detail = r.error().message;
      }
      lp->rec.outcome = ok ? "applied" : "failed";
      if (!lp->waited.empty()) lp->rec.detail = "after the " + lp->waited + ": " + lp->rec.detail;
      append("action_outcome", {{"policy", lp->spec->name}, {"data", out}});
      env.progress.event(fmt::format("  rollback {}: {} — {}", name, lp->rec.outcome, lp->rec.detail));
      step_done(*lp, ok);
    });
  }

  // Compare-and-swap: the write happens only if the flag is still in the
  // state the intent recorded. If someone changed it in between, that is
  // journaled and the step starts again from what they left.
  bool flip(Ladder& l, const FlagActionSpec& f, size_t step) {
    const PolicySpec& policy = *l.spec;
    ActionRecord& rec = l.rec;
    FlagProvider& provider = *env.runtime.flag_providers.at(f.provider);
    const FlagChange change{f.flag, f.variant, f.segment, f.segment_jsonlogic};
    constexpr int kAttempts = 3;
    for (int attempt = 1;; ++attempt) {
      auto before = provider.preview(change);
      json::object intent{{"action", "flag"}, {"step", step}, {"provider", f.provider}, {"flag", f.flag},
                          {"variant", f.variant}, {"segment", f.segment}};
      if (!f.segment_jsonlogic.empty()) intent["targeting"] = embed_json(f.segment_jsonlogic);
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
      json::object out{{"action", "flag"}, {"step", step}, {"flag", f.flag}, {"ok", r.has_value() && !conflict}};
      if (r) {
        out["changed"] = r->changed;
        out["previous_state"] = embed_json(r->previous.state_json);
        out["new_state"] = embed_json(r->current.state_json);
        out["detail"] = r->detail;
        out["since_signal_us"] = std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - last_input)
                                     .count();
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
        env.progress.event(
            fmt::format("  flag {} was changed by someone else since it was read; reading it again", f.flag));
        continue;
      }
      if (conflict) {
        rec.outcome = "failed";
        rec.detail = fmt::format("flag {} kept changing under us ({} attempts): {}", f.flag, kAttempts, r->detail);
      } else if (r) {
        rec.outcome = r->changed ? "applied" : "unchanged";
        rec.detail = r->detail;
        if (r->changed) l.undo = *r;
      } else {
        rec.outcome = "failed";
        rec.detail = r.error().message;
      }
      env.progress.event(fmt::format("  flag {}: {} — {}", f.flag, rec.outcome, rec.detail));
      emit({.kind = EngineEvent::Kind::Action, .policy = policy.name, .action = "flag", .outcome = rec.outcome});
      return r.has_value() && !conflict;
    }
  }

  void step_done(Ladder& l, bool ok) {
    const ActionSpec& action = l.spec->actions[l.step];
    if (!l.undo && l.rec.outcome == "unchanged" && l.continued) {
      // The flag already holds what this step writes because an interrupted
      // run flipped it and reconciliation kept it: that flip is this step's,
      // so escalating undoes it (compare-and-swap, as for our own).
      if (const auto* f = std::get_if<FlagActionSpec>(&action.kind))
        if (auto k = kept_flip(l.continued->flips, *f, "flipped by the interrupted run, kept")) l.undo = k;
    }
    l.incident.actions.push_back(fmt::format("{} ({}): {}", l.rec.description, l.rec.outcome, l.rec.detail));
    send(l, "updated");  // responders learn of the step before its verification
    if (!ok) {
      l.res.actions.push_back(l.rec);
      return start_step(l, l.step + 1);  // escalate to the next step without waiting
    }
    begin_verification(l, env.clock.now());
    note(l);
  }

  // Judge only what is observed from `now` on: baselines stay, canary counts
  // start again from the first read of the verification, and its signals run now.
  void begin_verification(Ladder& l, TimePoint now) {
    l.state = LadderState::Verifying;
    l.ended = false;
    l.since = now;
    l.deadline = now + l.spec->verify_for;
    l.fresh.clear();
    l.fresh_metrics.clear();
    l.fresh_canary.clear();
    l.last_recovery = Recovery{};
    l.dirty = false;
    for (const auto& c : l.spec->metrics)
      if (auto it = metric_history.find(c.id + "#baseline"); it != metric_history.end()) l.fresh_metrics[it->first] = it->second;
    run_now(l);
  }

  // The driver runs these signals as soon as it can (take_urgent).
  void run_now(const Ladder& l) {
    for (const auto& p : l.spec->probes) urgent.insert(p);
    for (const auto& c : l.spec->metrics) urgent.insert(c.id);
  }

  void conclude(Ladder& l, const Recovery& r) {
    const PolicySpec& policy = *l.spec;
    size_t i = l.step;
    ActionRecord& rec = l.rec;
    rec.recovery = r.state == RecoveryState::Recovered      ? "recovered"
                   : r.state == RecoveryState::StillFailing ? "still_failing"
                                                            : "not_confirmed";
    rec.recovery_reasons = r.reasons;
    l.res.actions.push_back(rec);
    // A ladder resumed after a restart may not have the step's line yet.
    if (l.incident.actions.empty()) l.incident.actions.push_back(fmt::format("{} ({}): {}", rec.description, rec.outcome, rec.detail));
    append("verification", {{"policy", policy.name},
                            {"data", {{"step", i + 1}, {"result", rec.recovery}, {"reasons", to_json(r.reasons)},
                                      {"evidence", to_json(r.evidence)}}}});
    if (r.state == RecoveryState::Recovered) {
      l.res.recovered_at = env.clock.now();
      l.res.state = "mitigated";
      env.progress.event(fmt::format("RECOVERED after step {} ({})", i + 1, rec.description));
      append("policy_recovered",
             {{"policy", policy.name},
              {"data", {{"step", i + 1}, {"release", l.release},
                        {"time_to_detect_ms", ms(l.release_started, *l.res.tripped_at)},
                        {"time_to_mitigate_ms", ms(l.release_started, *l.res.recovered_at)}}}});
      emit({.kind = EngineEvent::Kind::Recovered, .policy = policy.name,
            .detect_seconds = ms(l.release_started, *l.res.tripped_at) / 1000.0,
            .mitigate_seconds = ms(l.release_started, *l.res.recovered_at) / 1000.0});
      l.incident.status = "mitigated";
      l.incident.actions.back() += " — users recovered";
      send(l, "resolved");
      return end(l, LadderState::Mitigated);
    }
    env.progress.event(fmt::format("step {} did not recover users: {}", i + 1, text::join(r.reasons, "; ")));
    l.incident.actions.back() += " — users did not recover";
    if (i + 1 < policy.actions.size() && !stopping) {
      // A flip that did not help is not left behind for the next step.
      if (l.undo) undo_flag(l, std::get<FlagActionSpec>(policy.actions[i].kind), *l.undo, i + 1);
      append("escalated", {{"policy", policy.name},
                           {"data", {{"from_step", i + 1}, {"to_step", i + 2}, {"to", policy.actions[i + 1].describe()}}}});
      l.state = LadderState::Escalated;
      note(l);
    }
    send(l, "updated");
    start_step(l, i + 1);
  }

  void failed(Ladder& l) {
    l.res.state = "mitigation_failed";
    env.progress.event(fmt::format("MITIGATION FAILED for policy {}: a human is needed", l.spec->name));
    append("mitigation_failed", {{"policy", l.spec->name},
                                 {"data", {{"steps", l.spec->actions.size()},
                                           {"reason", "no step of the ladder recovered users"}}}});
    l.incident.status = "mitigation_failed";
    send(l, "updated");
    end(l, LadderState::Failed);
  }

  void end(Ladder& l, LadderState s) {
    l.state = s;
    l.ended = true;
    note(l);
    if (s == LadderState::Failed) emit({.kind = EngineEvent::Kind::IncidentClosed, .policy = l.spec->name});
    if (s == LadderState::Mitigated) emit({.kind = EngineEvent::Kind::IncidentClosed, .policy = l.spec->name});
  }

  void emit(EngineEvent e) {
    if (env.on_event) env.on_event(e);
  }

  // A transition: the metrics learn it; in watch the journal keeps the whole
  // machine, so a restart resumes it where it was.
  void note(Ladder& l) {
    emit({.kind = EngineEvent::Kind::State, .policy = l.spec->name, .state = l.state});
    if (opt.journal_states)
      append("policy_state", {{"policy", l.spec->name}, {"data", state_json(l)}});
  }

  json::object state_json(const Ladder& l) const {
    auto wall = [&](TimePoint t) { return text::rfc3339(env.clock.to_wall(t)); };
    json::object o{{"state", to_string(l.state)}, {"release", l.release}, {"release_started", wall(l.release_started)},
                   {"ended", l.ended}, {"step", l.step}};
    if (l.state == LadderState::Paused) {
      o["resume_to"] = to_string(l.resume_to);
      o["paused_by"] = l.paused_by;
    }
    if (l.res.tripped_at) {
      o["incident"] = to_json(l.incident);
      o["tripped_at"] = wall(*l.res.tripped_at);
      o["result"] = l.res.state;
    }
    if (l.undo)
      o["flip"] = {{"provider", flag_of(l) ? flag_of(l)->provider : ""}, {"flag", l.undo->previous.flag},
                   {"previous_state", embed_json(l.undo->previous.state_json)},
                   {"written_state", embed_json(l.undo->current.state_json)}};
    if (l.lifting_until) o["lifting_until"] = wall(*l.lifting_until);
    if (l.lifted) o["lifted_incident"] = to_json(*l.lifted);
    if (l.wait_until) {
      o["waiting"] = l.waiting;
      o["wait_until"] = wall(*l.wait_until);
    }
    return o;
  }

  const FlagActionSpec* flag_of(const Ladder& l) const {
    if (l.step >= l.spec->actions.size()) return nullptr;
    return std::get_if<FlagActionSpec>(&l.spec->actions[l.step].kind);
  }


  const Ladder* find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &ladders[it->second];
  }
  Ladder* find(const std::string& name) {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &ladders[it->second];
  }

  static bool in_flight(const Ladder& l) {
    return !l.ended && (l.state == LadderState::Tripped || l.state == LadderState::Mitigating ||
                        l.state == LadderState::Verifying || l.state == LadderState::Escalated);
  }

  // Judging starts again for a policy: nothing observed before now counts.
  void forget_signals(const PolicySpec& p) {
    for (const auto& name : p.probes) history.erase(name);
    for (const auto& c : p.metrics) {
      metric_history.erase(c.id);
      metric_history.erase(c.id + "#baseline");
      canary.erase(c.id);
    }
  }

  Result<void> announce(const ReleaseAnnouncement& a) {
    std::vector<Ladder*> concerned;
    for (auto& l : ladders) {
      if (l.spec->service != a.service) continue;
      if (!a.policies.empty() && std::find(a.policies.begin(), a.policies.end(), l.spec->name) == a.policies.end())
        continue;
      concerned.push_back(&l);
    }
    for (const auto& f : a.fixes) {
      Ladder* l = find(f);
      if (!l) return fail(fmt::format("fixes: no policy named '{}'", f));
      if (l->spec->service != a.service) return fail(fmt::format("fixes: policy '{}' guards service '{}', not '{}'", f, l->spec->service, a.service));
    }
    if (concerned.empty() && cfg->service(a.service) == nullptr)
      return fail(fmt::format("no policy guards service '{}'", a.service));
    TimePoint now = env.clock.now();
    json::array names, fixes;
    for (auto* l : concerned) names.emplace_back(l->spec->name);
    for (const auto& f : a.fixes) fixes.emplace_back(f);
    append("release_started", {{"data", {{"service", a.service}, {"release", a.release}, {"policies", names},
                                         {"fixes", fixes}, {"who", a.who}}}});
    env.progress.event(fmt::format("release {} of {} started", a.release, a.service));
    std::set<const PolicySpec*> restarted;
    for (Ladder* l : concerned) {
      // A ladder in flight finishes against the release it tripped on.
      if (in_flight(*l)) continue;
      l->release = a.release;
      l->release_started = now;
      if (l->state == LadderState::Failed || (l->ended && l->state == LadderState::Tripped)) {
        l->state = LadderState::Watching;  // the new release is judged on its own
        l->ended = false;
      }
      forget_signals(*l->spec);
      l->dirty = true;
      note(*l);
    }
    // Sources that judge "since the release" (log signals) move their window.
    for (auto& [name, source] : env.runtime.metric_sources) source->release_started(a.service, now);
    for (const auto& f : a.fixes)
      if (auto r = lift(f, a.who.empty() ? "release " + a.release : a.who); !r)
        env.progress.event(fmt::format("release {}: {}", a.release, r.error().message));
    return {};
  }

  json::object judge_release(const std::string& service, const std::string& release,
                             const std::vector<std::string>& names) {
    json::array verdicts;
    std::string overall = "healthy";
    for (auto& l : ladders) {
      if (l.spec->service != service) continue;
      if (!names.empty() && std::find(names.begin(), names.end(), l.spec->name) == names.end()) continue;
      json::object v{{"policy", l.spec->name}};
      if (l.res.tripped_at && l.res.release == release) {
        v["verdict"] = l.res.state.empty() ? to_string(l.state) : l.res.state;
        overall = "tripped";
      } else if (l.release != release) {
        v["verdict"] = "not_judged";
        v["reasons"] = json::array{fmt::format("the policy judges release {} now", l.release)};
      } else if (l.state == LadderState::Paused) {
        v["verdict"] = "not_judged";
        v["reasons"] = json::array{"paused"};
        if (overall == "healthy") overall = "inconclusive";
      } else {
        Verdict f = evaluate(*l.spec, history, Phase::Final, metric_history);
        v["verdict"] = f.state == VerdictState::Tripped ? "tripped"
                       : f.state == VerdictState::Inconclusive ? "inconclusive" : "healthy";
        v["reasons"] = to_json(f.reasons);
        if (f.state == VerdictState::Inconclusive && overall == "healthy") overall = "inconclusive";
      }
      verdicts.push_back(std::move(v));
    }
    json::object data{{"service", service}, {"release", release}, {"verdict", overall}, {"policies", verdicts}};
    append("release_baked", {{"data", data}});
    env.progress.event(fmt::format("release {} of {} baked: {}", release, service, overall));
    return data;
  }

  Result<void> lift(const std::string& name, const std::string& who) {
    Ladder* l = find(name);
    if (!l) return fail(fmt::format("no policy named '{}'", name));
    if (l->state != LadderState::Mitigated)
      return fail(fmt::format("policy '{}' is {}, not mitigated: nothing to lift", name, to_string(l->state)));
    append("mitigation_lifting", {{"policy", name}, {"data", {{"release", l->release}, {"who", who},
                                                              {"incident", l->incident.key},
                                                              {"watch_for_ms", l->spec->verify_for.count()}}}});
    env.progress.event(fmt::format("policy {}: lifting the mitigation ({})", name, who));
    if (l->undo) {
      if (const auto* f = flag_of(*l)) undo_flag(*l, *f, *l->undo, l->step + 1);
    }
    l->lifted = l->incident;
    l->lifted->actions.push_back(fmt::format("mitigation lifted by {}; watching for {}", who,
                                             format_duration(l->spec->verify_for)));
    l->undo.reset();
    l->state = LadderState::Watching;
    l->ended = false;
    l->lifting_until = env.clock.now() + l->spec->verify_for;
    forget_signals(*l->spec);
    l->dirty = true;
    run_now(*l);
    note(*l);
    return {};
  }

  Result<std::string> alarm(const Alarm& a) {
    std::string service = a.service.empty() ? cfg->agent.service : a.service;
    Ladder* l = nullptr;
    if (!a.policy.empty() && !(l = find(a.policy))) return fail(fmt::format("no policy named '{}'", a.policy));
    std::string who = a.who.empty() ? "someone" : a.who;
    if (l && (l->state == LadderState::Watching || l->state == LadderState::Failed ||
              (l->ended && l->state == LadderState::Tripped))) {
      // The button starts the policy's ladder as a trip would.
      Verdict v;
      v.state = VerdictState::Tripped;
      v.reasons = {fmt::format("alarm raised by {}: {}", who, a.reason)};
      v.probe = "alarm";
      v.since = env.clock.now();
      append("alarm_raised", {{"policy", l->spec->name},
                              {"data", {{"who", who}, {"reason", a.reason}, {"scope", a.scope}, {"service", service}}}});
      l->ended = false;
      trip(*l, v);
      return l->incident.key;
    }
    std::string scope = a.scope.empty() ? "all users of " + service : a.scope;
    if (l && l->res.tripped_at) {
      // Its incident is open: a second press updates it.
      append("alarm_raised", {{"policy", l->spec->name},
                              {"data", {{"who", who}, {"reason", a.reason}, {"scope", scope}, {"service", service},
                                        {"incident", l->incident.key}, {"updated", true}}}});
      l->incident.actions.push_back(fmt::format("alarm raised again by {}: {}", who, a.reason));
      send(*l, "updated");
      return l->incident.key;
    }
    std::string id = service + "\x1f" + scope;
    auto it = alarms.find(id);
    bool update = it != alarms.end();
    Incident& i = alarms[id];
    if (!update) {
      i.key = "dg-" + sha256_hex(fmt::format("{}|{}|alarm|{}|{}|{}", service, cfg->agent.environment, scope,
                                             text::rfc3339(env.clock.wall()), env.journal.path()))
                          .substr(0, 24);
      i.title = fmt::format("{}: alarm raised by {}", service, who);
      i.service = service;
      i.environment = cfg->agent.environment;
      i.release = release_of_service(service);
      i.policy = "";
      i.status = "investigating";
      i.scope = scope;
      i.experience = a.reason;
      i.since = env.clock.now();
    }
    i.actions.push_back(fmt::format("alarm raised by {}: {}", who, a.reason));
    auto seq = append("alarm_raised", {{"data", {{"who", who}, {"reason", a.reason}, {"scope", scope},
                                                 {"service", service}, {"incident", i.key}, {"updated", update}}}});
    if (!update) i.journal = fmt::format("{}#{}", env.journal.path(), seq.value_or(0));
    i.event = update ? "updated" : "opened";
    i.at = env.clock.now();
    env.notifier.notify(i, {}, opt.dry_run);
    if (!update) emit({.kind = EngineEvent::Kind::IncidentOpened});
    return i.key;
  }

  std::string release_of_service(const std::string& service) const {
    for (const auto& l : ladders)
      if (l.spec->service == service) return l.release;
    auto r = opt.releases.find(service);
    return r != opt.releases.end() ? r->second : opt.release;
  }

  Result<void> pause(const std::string& name, const std::string& who, const std::string& reason) {
    Ladder* l = find(name);
    if (!l) return fail(fmt::format("no policy named '{}'", name));
    if (l->state == LadderState::Paused) return {};
    if (l->state == LadderState::Mitigating || l->state == LadderState::Tripped || l->state == LadderState::Escalated)
      return fail(fmt::format("policy '{}' has a step in flight; pause it once the step has finished", name));
    append("policy_paused", {{"policy", name}, {"data", {{"who", who}, {"reason", reason}, {"was", to_string(l->state)}}}});
    // A verification in progress is abandoned: its flip stays, judged again on resume.
    l->resume_to = l->state == LadderState::Verifying ? LadderState::Watching : l->state;
    if (l->state == LadderState::Verifying) l->ended = true;
    l->paused_by = who;
    l->state = LadderState::Paused;
    env.progress.event(fmt::format("policy {} paused by {}{}", name, who, reason.empty() ? "" : ": " + reason));
    note(*l);
    return {};
  }

  Result<void> resume(const std::string& name, const std::string& who) {
    Ladder* l = find(name);
    if (!l) return fail(fmt::format("no policy named '{}'", name));
    if (l->state != LadderState::Paused) return {};
    append("policy_resumed", {{"policy", name}, {"data", {{"who", who}, {"to", to_string(l->resume_to)}}}});
    l->state = l->resume_to;
    if (l->state == LadderState::Watching) {
      l->ended = false;
      forget_signals(*l->spec);  // judged on what is observed from now on
      l->dirty = true;
    }
    env.progress.event(fmt::format("policy {} resumed by {}", name, who));
    note(*l);
    return {};
  }

  std::map<std::string, Incident> alarms;  // by service + scope

  TimePoint mono_of(const json::object& o, std::string_view k) const {
    auto t = text::parse_rfc3339(string_at(o, k));
    TimePoint now = env.clock.now();
    if (!t) return now;
    // Wall time from the journal back onto this process's monotonic scale.
    return std::min(now, *t - (env.clock.wall() - now));
  }

  static LadderState state_named(const std::string& s) {
    for (auto st : {LadderState::Watching, LadderState::Tripped, LadderState::Mitigating, LadderState::Verifying,
                    LadderState::Mitigated, LadderState::Escalated, LadderState::Failed, LadderState::Paused})
      if (s == to_string(st)) return st;
    return LadderState::Watching;
  }

  void restore(const json::object& states, const std::map<std::string, std::vector<InheritedFlip>>& kept, bool clean) {
    TimePoint now = env.clock.now();
    if (const auto* pol = states.if_contains("policies"); pol && pol->is_object()) {
      for (const auto& [name, v] : pol->as_object()) {
        Ladder* l = find(std::string(name));
        if (!l || !v.is_object()) continue;  // a policy the new config no longer has
        const json::object& o = v.as_object();
        LadderState st = state_named(string_at(o, "state"));
        l->release = string_at(o, "release");
        l->release_started = mono_of(o, "release_started");
        if (const auto* step = o.if_contains("step"); step && step->is_int64())
          l->step = std::min<size_t>(static_cast<size_t>(step->as_int64()), l->spec->actions.size() - 1);
        if (const auto* inc = o.if_contains("incident"); inc && inc->is_object()) {
          l->incident = incident_from_json(inc->as_object());
          l->res = PolicyResult{.name = l->spec->name, .state = string_at(o, "result"), .release = l->release};
          l->res.tripped_at = mono_of(o, "tripped_at");
          l->res.incident_key = l->incident.key;
          l->dry = l->incident.status == "dry_run";
        }
        if (const auto* f = o.if_contains("flip"); f && f->is_object()) {
          const auto& fo = f->as_object();
          std::string flag = string_at(fo, "flag");
          l->undo = FlagOutcome{true, {flag, json::serialize(fo.at("previous_state"))},
                                {flag, json::serialize(fo.at("written_state"))}, "restored from the journal"};
        }
        if (const auto* li = o.if_contains("lifted_incident"); li && li->is_object()) l->lifted = incident_from_json(li->as_object());
        if (o.contains("lifting_until")) l->lifting_until = now + l->spec->verify_for;
        l->ended = false;
        l->dirty = true;
        switch (st) {
          case LadderState::Mitigated:
          case LadderState::Failed: l->state = st; l->ended = true; break;
          case LadderState::Paused:
            l->state = st;
            l->resume_to = state_named(string_at(o, "resume_to"));
            l->paused_by = string_at(o, "paused_by");
            break;
          case LadderState::Watching: l->state = st; break;
          case LadderState::Tripped:
          case LadderState::Mitigating:
          case LadderState::Verifying:
          case LadderState::Escalated: {
            // Mid-ladder when the process stopped. A flip in place (ours at a
            // clean stop, or one reconciliation kept) is verified again from
            // now; without one the policy watches and a trip continues the
            // same incident (the step then finds its flag as it left it).
            auto k = kept.find(l->spec->name);
            const FlagActionSpec* f = flag_of(*l);
            if (k != kept.end() && f)
              if (auto flip = kept_flip(k->second, *f, "flipped before the restart, kept")) l->undo = flip;
            bool flip_in_place = (clean && st == LadderState::Verifying && (l->undo || !f)) || (!clean && k != kept.end() && l->undo);
            if (flip_in_place && st != LadderState::Tripped) {
              l->continued = ContinuedIncident{.key = l->incident.key, .actions = l->incident.actions};
              resume_verifying(*l, now);
            } else {
              l->state = LadderState::Watching;
              if (!l->incident.key.empty() && !opt.continue_incidents.contains(l->spec->name))
                opt.continue_incidents[l->spec->name] =
                    ContinuedIncident{.key = l->incident.key, .actions = l->incident.actions,
                                      .flips = k != kept.end() ? k->second : std::vector<InheritedFlip>{}};
              append("ladder_resumed", {{"policy", l->spec->name},
                                        {"data", {{"step", l->step + 1}, {"incident", l->incident.key},
                                                  {"verifying", false}}}});
            }
            break;
          }
        }
        note(*l);
      }
    }
    if (!clean) resume_kept_flips(kept);
    if (const auto* can = states.if_contains("canary"); can && can->is_object())
      for (const auto& [id, v] : can->as_object())
        if (auto c = conditions.find(std::string(id)); c != conditions.end() && c->second->kind == MetricCondition::Kind::Canary)
          if (auto counter = canary_of_json(v, c->second->max_ratio)) canary.insert_or_assign(std::string(id), std::move(*counter));
    if (const auto* al = states.if_contains("alarms"); al && al->is_array())
      for (const auto& a : al->as_array()) {
        if (!a.is_object()) continue;
        Incident i = incident_from_json(a.as_object());
        if (!i.key.empty()) alarms[i.service + "\x1f" + i.scope] = i;
      }
  }


  // A flip is in place after a restart: verify it from now, as if the step
  // had just been taken.
  void resume_verifying(Ladder& l, TimePoint now) {
    l.rec = ActionRecord{.description = l.spec->actions[l.step].describe(), .type = l.spec->actions[l.step].type,
                         .outcome = "applied", .detail = "in place before the restart", .at = now};
    begin_verification(l, now);
    append("ladder_resumed", {{"policy", l.spec->name},
                              {"data", {{"step", l.step + 1}, {"incident", l.incident.key}, {"verifying", true}}}});
  }

  // After a crash: a policy whose last state record is older than its trip
  // (flag steps journal no state before the flip) but whose flip the
  // reconciliation kept resumes by verifying that flip, under its incident.
  void resume_kept_flips(const std::map<std::string, std::vector<InheritedFlip>>& kept) {
    TimePoint now = env.clock.now();
    for (auto& l : ladders) {
      if (l.state != LadderState::Watching) continue;
      auto k = kept.find(l.spec->name);
      auto c = opt.continue_incidents.find(l.spec->name);
      if (k == kept.end() || k->second.empty() || c == opt.continue_incidents.end()) continue;
      bool found = false;
      for (size_t i = 0; i < l.spec->actions.size() && !found; ++i)
        if (const auto* f = std::get_if<FlagActionSpec>(&l.spec->actions[i].kind))
          if (auto flip = kept_flip(k->second, *f, "flipped before the restart, kept")) {
            l.step = i;
            l.undo = flip;
            found = true;
          }
      if (!found) continue;
      Incident& i = l.incident;
      i = Incident{};
      i.key = c->second.key;
      i.actions = c->second.actions;
      i.title = fmt::format("{}: {} tripped after release {}", l.spec->service, l.spec->name, l.release);
      i.service = l.spec->service;
      i.environment = cfg->agent.environment;
      i.release = l.release;
      i.policy = l.spec->name;
      i.scope = scope_of(*l.spec);
      i.status = "mitigating";
      i.since = now;
      l.dry = opt.dry_run || l.spec->dry_run;
      l.res = PolicyResult{.name = l.spec->name, .incident_key = i.key, .release = l.release};
      l.res.tripped_at = now;
      l.continued = c->second;
      opt.continue_incidents.erase(c);
      resume_verifying(l, now);
      note(l);
    }
  }

  json::object snapshot() const {
    json::object pol;
    for (const auto& l : ladders) pol[l.spec->name] = state_json(l);
    json::array al;
    for (const auto& [id, i] : alarms) al.push_back(to_json(i));
    json::object can;
    for (const auto& [id, c] : canary) can[id] = canary_json(c);
    json::object rb;
    for (const auto& [svc, times] : rollback_times) {
      json::array a;
      for (TimePoint t : times) a.emplace_back(text::rfc3339(env.clock.to_wall(t)));
      if (!a.empty()) rb[svc] = std::move(a);
    }
    return {{"policies", pol}, {"alarms", al}, {"canary", can}, {"rollbacks", rb}};
  }

  // Intent (with what is needed to undo) is durable before the side effect;
  // the outcome follows, failures included. The undo is compare-and-swap: it
  // restores only if the flag is still what our step wrote; a later change by
  // someone else is kept and journaled as a conflict.
  void undo_flag(Ladder& l, const FlagActionSpec& f, const FlagOutcome& done, size_t step) {
    const PolicySpec& policy = *l.spec;
    FlagProvider& provider = *env.runtime.flag_providers.at(f.provider);
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
    emit({.kind = EngineEvent::Kind::Action, .policy = policy.name, .action = "undo_flag",
          .outcome = conflict ? "conflict" : r ? (r->changed ? "applied" : "unchanged") : "failed"});
    std::string line = conflict ? fmt::format("did not undo step {}: flag {} was changed by someone else since; "
                                              "their change is kept ({})",
                                              step, f.flag, r->detail)
                                : fmt::format("undid step {} (flag {} restored): {}", step, f.flag,
                                              r ? r->detail : r.error().message);
    env.progress.event("  " + line);
    l.incident.actions.push_back(line);
  }
};

Engine::Engine(std::shared_ptr<const Config> config, EngineEnv env, EngineOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(env), std::move(options))) {}
Engine::~Engine() = default;

void Engine::observe(Observation o) { impl_->observe(std::move(o)); }
void Engine::read(MetricReading r) { impl_->read(std::move(r)); }
void Engine::advance() { impl_->advance(); }
void Engine::stop() {
  impl_->stopping = true;
  impl_->advance();
}

std::set<std::string> Engine::take_urgent() { return std::exchange(impl_->urgent, {}); }

bool Engine::wants(const std::string& signal) const {
  for (size_t i : impl_->judging(signal)) {
    const Ladder& l = impl_->ladders[i];
    if (!impl_->judged(l) || l.state == LadderState::Paused) continue;
    if (impl_->frozen_by && l.ended) continue;
    return true;
  }
  return false;
}

std::optional<TimePoint> Engine::next_deadline() const {
  std::optional<TimePoint> t;
  for (const auto& l : impl_->ladders)
    if (impl_->judged(l)) {
      if (l.state == LadderState::Verifying) t = t ? std::min(*t, l.deadline) : l.deadline;
      if (l.state == LadderState::Mitigating && l.wait_until) t = t ? std::min(*t, *l.wait_until) : *l.wait_until;
    }
  return t;
}

bool Engine::ladder_in_flight() const {
  for (const auto& l : impl_->ladders)
    if (l.state == LadderState::Tripped || l.state == LadderState::Mitigating || l.state == LadderState::Verifying ||
        l.state == LadderState::Escalated)
      if (!l.ended) return true;
  return false;
}

bool Engine::ladder_done() const { return impl_->frozen_by && impl_->frozen_by->ended; }
bool Engine::journal_failed() const { return impl_->journal_failed; }

LadderState Engine::state(const std::string& policy) const {
  const Ladder* l = impl_->find(policy);
  return l ? l->state : LadderState::Watching;
}

const History& Engine::history() const { return impl_->history; }
const MetricHistory& Engine::metric_history() const { return impl_->metric_history; }

std::vector<PolicyResult> Engine::ladders() const {
  std::vector<PolicyResult> out;
  for (const auto& l : impl_->ladders)
    if (l.res.tripped_at) out.push_back(l.res);
  return out;
}

Result<void> Engine::announce(const ReleaseAnnouncement& a) { return impl_->announce(a); }
Result<void> Engine::lift(const std::string& policy, const std::string& who) { return impl_->lift(policy, who); }
boost::json::object Engine::judge_release(const std::string& service, const std::string& release,
                                          const std::vector<std::string>& policies) {
  return impl_->judge_release(service, release, policies);
}
Result<std::string> Engine::alarm(const Alarm& a) { return impl_->alarm(a); }
Result<void> Engine::pause(const std::string& policy, const std::string& who, const std::string& reason) {
  return impl_->pause(policy, who, reason);
}
Result<void> Engine::resume(const std::string& policy, const std::string& who) { return impl_->resume(policy, who); }
Result<void> Engine::approve(const std::string& policy, const std::string& who, const std::string& reason) {
  return impl_->decide(policy, true, who, reason);
}
Result<void> Engine::veto(const std::string& policy, const std::string& who, const std::string& reason) {
  return impl_->decide(policy, false, who, reason);
}
boost::json::object Engine::snapshot() const { return impl_->snapshot(); }
void Engine::restore(const boost::json::object& states, const std::map<std::string, std::vector<InheritedFlip>>& kept,
                     bool clean_stop) {
  impl_->restore(states, kept, clean_stop);
}

std::pair<std::string, TimePoint> Engine::release_of(const std::string& policy) const {
  if (const Ladder* l = impl_->find(policy)) return {l->release, l->release_started};
  return {impl_->opt.release, impl_->opt.release_started};
}

PolicyResult Engine::ladder(const std::string& policy) const {
  if (const Ladder* l = impl_->find(policy)) return l->res;
  return {};
}

std::vector<Incident> Engine::alarm_incidents() const {
  std::vector<Incident> out;
  for (const auto& [id, i] : impl_->alarms) out.push_back(i);
  return out;
}

}  // namespace dg
