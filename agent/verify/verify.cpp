#include "agent/verify/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <future>

#include "agent/core/duration.h"
#include "agent/core/text.h"
#include "agent/engine/records.h"
#include "agent/engine/signal_reader.h"

namespace dg {
namespace {

namespace json = boost::json;
using records::stats_json;
using records::to_json;

// One bake: the schedules and the tasks that run the signals; the engine
// judges and acts. Single-threaded except for the signal tasks, whose results
// are collected on this thread before the engine sees them.
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
    // Warm before the bake starts (a browser probe's browser), so the first
    // observations come as soon as the later ones.
    for (const auto& p : cfg_.policies)
      for (const auto& name : p.probes)
        if (auto it = rt_.probes.find(name); it != rt_.probes.end() && !opt_.inline_signals) it->second->prepare();
    report_.started = clock_.now();
    for (const auto& p : cfg_.probes) stats_[p.name] = ProbeStats{.name = p.name, .type = p.type};

    append("verify_started", {{"data", {{"bake_ms", opt_.bake.count()}, {"dry_run", opt_.dry_run},
                                        {"probes", probe_names()}, {"policies", policy_names()}}}});
    progress_.event(fmt::format("baking release {} of {} for {}{}", opt_.release, cfg_.agent.service,
                                format_duration(opt_.bake), opt_.dry_run ? " (dry run: no side effects)" : ""));

    // The caller owns the config for the whole bake: the engine's snapshot
    // does not need to own it.
    Engine engine(std::shared_ptr<const Config>(&cfg_, [](const Config*) {}),
                  EngineEnv{rt_, journal_, notifier_, clock_, progress_,
                            [](RollbackAction& rollback, std::function<void(Result<RollbackOutcome>)> done) {
                              done(rollback.run());
                            }},
                  EngineOptions{.release = opt_.release,
                                .release_started = report_.started,
                                .continue_incidents = opt_.continue_incidents,
                                .dry_run = opt_.dry_run,
                                .exclusive = true});
    engine_ = &engine;

    TimePoint end = report_.started + opt_.bake;
    for (const auto& p : cfg_.policies) {
      for (const auto& name : p.probes) schedule_.probes[name] = report_.started;
      for (const auto& c : p.metrics) {
        conditions_[c.id] = &c;
        schedule_.metrics[c.id] = report_.started;
      }
    }

    bool stopped_ladder = false;
    for (;;) {
      if (stopped()) {
        if (!engine.ladder_in_flight()) break;
        // Asked to stop mid-ladder: the step in flight has finished; the
        // engine starts no other.
        report_.interrupted = stopped_ladder = true;
        engine.stop();
        break;
      }
      if (engine.ladder_done() || (!engine.ladder_in_flight() && clock_.now() >= end)) break;
      bool any = tick(true);
      auto deadline = engine.next_deadline();
      if (any || (deadline && clock_.now() >= *deadline)) {
        engine.advance();
        if (!engine.ladder_in_flight() && !engine.ladder_done()) progress_.status(status_line(end));
      }
      if (engine.ladder_done()) break;
      // A verification judges only what is observed after the action: its
      // signals run now.
      for (const auto& s : engine.take_urgent()) {
        if (auto p = schedule_.probes.find(s); p != schedule_.probes.end()) p->second = clock_.now();
        if (auto m = schedule_.metrics.find(s); m != schedule_.metrics.end()) m->second = clock_.now();
      }
      TimePoint wake = next_wake();
      if (!engine.ladder_in_flight()) wake = std::min(wake, end);
      if (deadline) wake = std::min(wake, *deadline);
      sleep_until(wake);
    }

    auto ladders = engine.ladders();
    if (ladders.empty()) {
      // What is still in flight when the bake ends is part of the evidence:
      // a source hanging at the end must count as an error, not be ignored.
      while (!probes_inflight_.empty() || !metrics_inflight_.empty()) tick(false);
      report_.interrupted = stopped();
      for (const auto& policy : cfg_.policies) report_.policies.push_back(final_verdict(policy));
    } else {
      const PolicyResult& acted = ladders.front();
      report_.interrupted |= stopped_ladder;
      report_.policies.push_back(acted);
      for (const auto& policy : cfg_.policies)
        if (policy.name != acted.name)
          report_.policies.push_back(PolicyResult{.name = policy.name, .state = "not_judged",
                                                  .reasons = {"the bake ended when policy " + acted.name + " tripped"}});
      // What the log conditions saw by the end, whatever decided the bake: a
      // signature with its counts before and after is evidence for the review.
      for (auto& r : report_.policies)
        for (const auto& policy : cfg_.policies)
          if (policy.name == r.name)
            for (const auto& c : policy.metrics)
              if (!c.log.empty())
                if (auto it = rt_.metric_sources.find(c.source); it != rt_.metric_sources.end())
                  r.reasons.push_back("logs " + c.id + " at the end: " + it->second->read(c.query, clock_).detail);
    }
    journal_failed_ |= engine.journal_failed();
    engine_ = nullptr;
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
    Verdict v = evaluate(policy, engine_->history(), Phase::Final, engine_->metric_history());
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

  // What falls due together runs together: probes and metric reads, each on
  // its own task, collected before anything is judged.
  struct Schedule {
    std::map<std::string, TimePoint> probes;   // probe name -> next run
    std::map<std::string, TimePoint> metrics;  // condition id -> next read
  };

  // Launches what is due and still wanted (unless still running from before)
  // and collects what finished within a short slice of real time. A slow
  // signal stays in flight without holding up the others; its missed ticks
  // are skipped, not queued.
  bool tick(bool launch) {
    TimePoint now = clock_.now();
    for (const auto& [name, t] : schedule_.probes) {
      if (!launch || t > now || probes_inflight_.contains(name) || !engine_->wants(name)) continue;
      Probe* probe = rt_.probes.at(name).get();
      probes_inflight_[name] = std::async(launch_policy(), [probe, this] { return probe->run(clock_); });
    }
    for (const auto& [id, t] : schedule_.metrics) {
      if (!launch || t > now || metrics_inflight_.contains(id) || !engine_->wants(id)) continue;
      const MetricCondition* c = conditions_.at(id);
      MetricSource* source = rt_.metric_sources.at(c->source).get();
      // The pre-release value (as of the bake's start) is a read of its own,
      // in flight beside the others, asked for again until it arrives: a slow
      // source costs its timeout once, never before the bake can start.
      if (c->kind == MetricCondition::Kind::Baseline) {
        std::string key = id + "#baseline";
        const auto& h = engine_->metric_history();
        auto b = h.find(key);
        if ((b == h.end() || b->second.back().status != ReadingStatus::Ok) && !metrics_inflight_.contains(key))
          metrics_inflight_[key] = std::async(launch_policy(), [this, c, source] {
            return read_baseline(*source, *c, clock_, report_.started);
          });
      }
      bool parallel = !opt_.inline_signals;
      metrics_inflight_[id] = std::async(launch_policy(), [this, c, source, parallel] {
        return read_condition(*source, *c, clock_, parallel);
      });
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
      engine_->observe(std::move(o));
      if (auto d = schedule_.probes.find(it->first); d != schedule_.probes.end())
        d->second = next_due(d->second, cfg_.probe(it->first)->interval);
      it = probes_inflight_.erase(it);
      any = true;
    }
    for (auto it = metrics_inflight_.begin(); it != metrics_inflight_.end();) {
      if (!finished(it->second, deadline)) {
        ++it;
        continue;
      }
      engine_->read(it->second.get());
      if (auto d = schedule_.metrics.find(it->first); d != schedule_.metrics.end())
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
  TimePoint next_wake() const {
    TimePoint t = TimePoint::max();
    for (const auto& [n, d] : schedule_.probes)
      if (!probes_inflight_.contains(n) && engine_->wants(n)) t = std::min(t, d);
    for (const auto& [n, d] : schedule_.metrics)
      if (!metrics_inflight_.contains(n) && engine_->wants(n)) t = std::min(t, d);
    if (!probes_inflight_.empty() || !metrics_inflight_.empty()) t = std::min(t, clock_.now() + Duration{25});
    return t;
  }

  const Config& cfg_;
  Runtime& rt_;
  Journal& journal_;
  IncidentNotifier& notifier_;
  Clock& clock_;
  const VerifyOptions& opt_;
  Progress& progress_;
  Engine* engine_ = nullptr;
  Schedule schedule_;
  std::map<std::string, const MetricCondition*> conditions_;
  std::map<std::string, std::future<Observation>> probes_inflight_;
  std::map<std::string, std::future<MetricReading>> metrics_inflight_;
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
