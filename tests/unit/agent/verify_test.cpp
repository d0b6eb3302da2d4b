// The verify engine end to end in simulated time: fake probes read a fake
// "world" that the fake flag provider and rollback change, so the whole ladder
// (trip, act, verify, escalate, incident, journal) runs without sleeping.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>

#include "probes/http_probe.h"
#include "agent/verify/verify.h"
#include "tests/support/fake_world.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

ProbeSpec probe_spec(const std::string& name) {
  return ProbeSpec{.name = name, .type = "http", .interval = Duration{1000}, .timeout = Duration{500}, .kind = HttpProbeSpec{}};
}

struct Harness {
  World world;
  test::TempDir dir;
  Config cfg;
  Runtime rt;
  FakeProvider* provider = nullptr;
  RecordingSink* sink = nullptr;
  FakeClock clock;
  std::atomic<bool> hold{false};

  explicit Harness(bool with_rollback = true) {
    cfg.agent.service = "wiki";
    cfg.agent.environment = "prod";
    cfg.agent.journal = dir.file("journal.jsonl");
    cfg.probes = {probe_spec("zero_plugins"), probe_spec("with_plugins")};
    PolicySpec p;
    p.name = "editor";
    p.scope = "tenants with zero plugins";
    p.probes = {"zero_plugins", "with_plugins"};
    p.consecutive_failures = 3;
    p.verify_for = Duration{10'000};
    p.recovery_passes = 2;
    p.actions.push_back(ActionSpec{"flag", FlagActionSpec{"flags", "connect-framework", "off", "pluginCount == 0",
                                                          R"({"and":[{"!==":[{"var":"pluginCount"},null]},{"===":[{"var":"pluginCount"},0]}]})"}});
    if (with_rollback) p.actions.push_back(ActionSpec{"rollback", RollbackActionSpec{"previous"}});
    cfg.policies = {p};
    rt.probes["zero_plugins"] = std::make_unique<FakeProbe>("zero_plugins", world, true);
    rt.probes["with_plugins"] = std::make_unique<FakeProbe>("with_plugins", world, false);
    auto prov = std::make_unique<FakeProvider>(world);
    provider = prov.get();
    rt.flag_providers["flags"] = std::move(prov);
    rt.rollbacks["previous"] = std::make_unique<FakeRollback>(world);
    auto s = std::make_unique<RecordingSink>(world, &hold);
    sink = s.get();
    rt.sinks["log"] = std::move(s);
  }

  VerifyReport run(Duration bake = Duration{30'000}, bool dry_run = false, const std::atomic<bool>* stop = nullptr,
                   std::function<void()> after_run = {}) {
    auto journal = Journal::open(cfg.agent.journal, clock);
    EXPECT_TRUE(journal);
    (*journal)->set_context({"wiki", "prod", "2", "run"});
    NullProgress progress;
    VerifyOptions opt{.release = "2", .bake = bake, .dry_run = dry_run, .stop = stop, .inline_signals = true};
    opt.continue_incidents = continued;
    IncidentNotifier notifier(rt.sink_pointers(), **journal);
    VerifyReport r = run_verify(cfg, rt, **journal, notifier, clock, opt, progress);
    if (after_run) after_run();
    notifier.flush(std::chrono::seconds(5));
    events = progress.events;
    return r;
  }

  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    std::string content = test::slurp(cfg.agent.journal);
    size_t start = 0;
    for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1)
      out.push_back(std::string(json::parse(content.substr(start, nl - start)).at("kind").as_string()));
    return out;
  }
  static long index_of(const std::vector<std::string>& v, const std::string& s) {
    auto it = std::find(v.begin(), v.end(), s);
    return it == v.end() ? -1 : it - v.begin();
  }
  std::vector<std::string> events;
  std::map<std::string, ContinuedIncident> continued;
};

// A Prometheus stand-in: cumulative counters per arm that grow with fake time.
class CountingSource final : public MetricSource {
 public:
  explicit CountingSource(const Clock& clock) : clock_(clock) {}
  MetricReading read(const MetricQuery& q, const Clock&, std::optional<TimePoint> at) override {
    std::lock_guard lock(mu);
    calls.emplace_back(q.promql, at);
    MetricReading r{.at = clock_.now(), .query = q.promql};
    if (q.promql == "typo") {
      r.status = ReadingStatus::NoData;
      r.detail = "empty result";
      return r;
    }
    double secs = std::chrono::duration<double>(clock_.now() - TimePoint{std::chrono::seconds{1'800'000'000}}).count();
    double total = 20 * secs;
    r.status = ReadingStatus::Ok;
    r.series = {{{}, q.promql.find("errors") != std::string::npos ? total * 0.01 : total}};
    return r;
  }
  std::mutex mu;
  std::vector<std::pair<std::string, std::optional<TimePoint>>> calls;

 private:
  const Clock& clock_;
};

MetricCondition canary_condition(std::string errors_query) {
  MetricCondition c;
  c.id = "editor/canary";
  c.source = "prom";
  c.kind = MetricCondition::Kind::Canary;
  c.canary_errors.promql = std::move(errors_query);
  c.canary_total.promql = "canary_total";
  c.baseline_errors.promql = "baseline_errors";
  c.baseline_total.promql = "baseline_total";
  c.interval = Duration{1000};
  return c;
}

TEST(Verify, TheFourCanaryCountersOfALookAreReadAtOneInstant) {
  Harness h;
  h.world.broken = false;
  auto src = std::make_unique<CountingSource>(h.clock);
  CountingSource* source = src.get();
  h.rt.metric_sources["prom"] = std::move(src);
  h.cfg.policies[0].metrics = {canary_condition("canary_errors")};
  h.run(Duration{5000});
  ASSERT_GE(source->calls.size(), 8u);
  ASSERT_EQ(source->calls.size() % 4, 0u);
  for (size_t i = 0; i < source->calls.size(); i += 4) {
    ASSERT_TRUE(source->calls[i].second.has_value()) << "look " << i / 4 << " has no instant";
    for (size_t k = 1; k < 4; ++k) EXPECT_EQ(source->calls[i + k].second, source->calls[i].second) << "look " << i / 4;
  }
  EXPECT_NE(source->calls[0].second, source->calls[4].second) << "each look has its own instant";
}

TEST(Verify, ACanaryErrorsQueryMatchingNothingIsNeverHealthy) {
  Harness h;
  h.world.broken = false;
  h.rt.metric_sources["prom"] = std::make_unique<CountingSource>(h.clock);
  h.cfg.policies[0].metrics = {canary_condition("typo")};
  VerifyReport r = h.run(Duration{30'000});
  EXPECT_EQ(r.exit_code, kInconclusive);
  std::string reasons;
  for (const auto& x : r.policies[0].reasons) reasons += x + "\n";
  EXPECT_NE(reasons.find("no canary errors counted"), std::string::npos) << reasons;
}

TEST(Verify, HealthyReleaseExitsZeroAfterTheWholeBake) {
  Harness h;
  h.world.broken = false;
  TimePoint start = h.clock.now();
  VerifyReport r = h.run(Duration{30'000});
  EXPECT_EQ(r.exit_code, kHealthy);
  EXPECT_GE(h.clock.now() - start, Duration{30'000}) << "the whole bake is observed";
  ASSERT_EQ(r.policies.size(), 1u);
  EXPECT_EQ(r.policies[0].state, "healthy");
  EXPECT_EQ(h.world.applies, 0);
  EXPECT_EQ(r.probes.size(), 2u);
  EXPECT_EQ(r.probes[0].runs, 30);
  EXPECT_TRUE(verify_journal(h.cfg.agent.journal).ok);
  EXPECT_EQ(Harness::index_of(h.kinds(), "policy_healthy"), 1);
}

TEST(Verify, SegmentFlipMitigatesAndExitsOne) {
  Harness h;
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigated);
  const PolicyResult& p = r.policies[0];
  EXPECT_EQ(p.state, "mitigated");
  ASSERT_EQ(p.actions.size(), 1u) << "no escalation when the flip worked";
  EXPECT_EQ(p.actions[0].recovery, "recovered");
  EXPECT_EQ(h.world.applies, 1);
  EXPECT_EQ(h.world.rollbacks, 0);
  EXPECT_EQ(h.provider->last_segment, R"({"and":[{"!==":[{"var":"pluginCount"},null]},{"===":[{"var":"pluginCount"},0]}]})");
  // Trip after 3 failures at 1 s intervals (t=0,1,2); recovery after 2 passes.
  EXPECT_EQ(*p.tripped_at - r.started, Duration{2000});
  EXPECT_EQ(*p.recovered_at - *p.tripped_at, Duration{1000});
  auto k = h.kinds();
  long tripped = Harness::index_of(k, "policy_tripped"), intent = Harness::index_of(k, "action_intent"),
       outcome = Harness::index_of(k, "action_outcome"), recovered = Harness::index_of(k, "policy_recovered");
  EXPECT_LT(tripped, intent);
  EXPECT_LT(intent, outcome);
  EXPECT_LT(outcome, recovered);
  EXPECT_NE(Harness::index_of(k, "incident_opened"), -1);
  EXPECT_NE(Harness::index_of(k, "incident_resolved"), -1);
  EXPECT_EQ(h.sink->keys.size(), 1u) << "one incident per trip";
  EXPECT_EQ(h.sink->last.event, "resolved");
  EXPECT_NE(h.sink->last.scope.find("pluginCount == 0"), std::string::npos);
  EXPECT_NE(h.sink->last.experience.find("editor-bootstrap.js"), std::string::npos);
  EXPECT_TRUE(verify_journal(h.cfg.agent.journal).ok);
  // The intent carries the previous flag state for undo.
  std::string journal = test::slurp(h.cfg.agent.journal);
  auto intent_line = journal.find(R"("kind":"action_intent")");
  ASSERT_NE(intent_line, std::string::npos);
  EXPECT_NE(journal.find(R"("previous_state":{"defaultVariant":"on"})", intent_line), std::string::npos);
}

TEST(Verify, ASystemClockStepNeitherDelaysNorHastensATrip) {
  Harness h;
  // The calendar jumps back an hour after the first round of probes: the
  // failures still count as consecutive, one second apart.
  h.world.on_run = [&](int run) {
    if (run == 3) h.clock.step_wall(-Duration{3'600'000});
  };
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigated);
  EXPECT_EQ(*r.policies[0].tripped_at - r.started, Duration{2000});
  // Records carry the calendar as it was when they were written.
  std::string journal = test::slurp(h.cfg.agent.journal);
  auto first = json::parse(journal.substr(0, journal.find('\n')));
  auto tripped = journal.find(R"("kind":"policy_tripped")");
  ASSERT_NE(tripped, std::string::npos);
  auto line_start = journal.rfind('\n', tripped) + 1;
  auto rec = json::parse(journal.substr(line_start, journal.find('\n', tripped) - line_start));
  EXPECT_LT(std::string(rec.at("time").as_string()), std::string(first.at("time").as_string()))
      << "the journal shows the stepped calendar";
}

TEST(Verify, FlipThatDoesNotHelpEscalatesToRollback) {
  Harness h;
  h.world.flag_helps = false;
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigated);
  ASSERT_EQ(r.policies[0].actions.size(), 2u);
  EXPECT_EQ(r.policies[0].actions[0].recovery, "still_failing");
  EXPECT_EQ(r.policies[0].actions[1].recovery, "recovered");
  EXPECT_EQ(h.world.rollbacks, 1);
  auto k = h.kinds();
  EXPECT_LT(Harness::index_of(k, "escalated"), Harness::index_of(k, "policy_recovered"));
}

// An interrupted run's flip, kept by reconciliation (same release), is the
// first step's write: when that step does not help, escalating undoes it.
TEST(Verify, AKeptInheritedFlipIsUndoneWhenItsStepEscalates) {
  Harness h;
  h.world.flag_flipped = true;
  h.world.flag_helps = false;
  h.continued["editor"] = ContinuedIncident{
      "dg-k1", {}, {{"flags", "connect-framework", R"({"defaultVariant":"on"})", R"({"defaultVariant":"on","targeting":{}})"}}};
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigated);
  ASSERT_EQ(r.policies[0].actions.size(), 2u);
  EXPECT_EQ(r.policies[0].actions[0].outcome, "unchanged");
  EXPECT_EQ(h.world.applies, 1);
  EXPECT_EQ(h.world.restores, 1) << "the kept flip did not help: undone before the rollback";
  EXPECT_FALSE(h.world.flag_flipped);
  EXPECT_EQ(h.sink->keys, std::set<std::string>{"dg-k1"});
  auto k = h.kinds();
  EXPECT_LT(Harness::index_of(k, "action_outcome"), Harness::index_of(k, "escalated"));
}

TEST(Verify, FailedRollbackNeedsAHumanExitThree) {
  Harness h;
  h.world.flag_helps = false;
  h.world.rollback_fails = true;
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigationFailed);
  EXPECT_EQ(r.policies[0].state, "mitigation_failed");
  EXPECT_EQ(r.policies[0].actions[1].outcome, "failed");
  EXPECT_NE(Harness::index_of(h.kinds(), "mitigation_failed"), -1);
  EXPECT_EQ(h.sink->last.status, "mitigation_failed");
  EXPECT_EQ(h.sink->keys.size(), 1u);
}

TEST(Verify, MitigationThatNeverConfirmsIsIncomplete) {
  Harness h(/*with_rollback=*/false);
  h.world.flag_helps = false;
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigationFailed);
}

TEST(Verify, ProviderErrorEscalatesWithoutWaiting) {
  Harness h;
  h.world.provider_fails = true;
  VerifyReport r = h.run();
  EXPECT_EQ(r.exit_code, kMitigated);
  EXPECT_EQ(r.policies[0].actions[0].outcome, "failed");
  EXPECT_EQ(r.policies[0].actions[0].recovery, "");
  EXPECT_EQ(r.policies[0].actions[1].recovery, "recovered");
  // The failure is journaled as an outcome.
  EXPECT_NE(test::slurp(h.cfg.agent.journal).find("flag file is not valid JSON"), std::string::npos);
}

TEST(Verify, DeadTargetIsInconclusiveNeverHealthy) {
  Harness h;
  h.world.dead = true;
  VerifyReport r = h.run(Duration{10'000});
  EXPECT_EQ(r.exit_code, kInconclusive);
  EXPECT_EQ(r.policies[0].state, "inconclusive");
  EXPECT_EQ(h.world.applies, 0);
  EXPECT_NE(Harness::index_of(h.kinds(), "policy_inconclusive"), -1);
}

TEST(Verify, DeadTargetTripsWhenThePolicySaysSo) {
  Harness h;
  h.world.dead = true;
  h.cfg.policies[0].on_errors = OnErrors::Trip;
  VerifyReport r = h.run(Duration{10'000});
  EXPECT_NE(r.exit_code, kHealthy);
  EXPECT_EQ(r.exit_code, kMitigationFailed) << "nothing brings a dead target back here";
  EXPECT_EQ(h.world.applies, 1);
  EXPECT_EQ(h.world.rollbacks, 1);
}

TEST(Verify, TooShortABakeIsInconclusive) {
  Harness h;
  h.world.broken = false;
  VerifyReport r = h.run(Duration{1500});  // two runs per probe, three needed
  EXPECT_EQ(r.exit_code, kInconclusive);
}

TEST(Verify, DryRunDoesNothingButJournalsWhatItWouldHaveDone) {
  Harness h;
  VerifyReport r = h.run(Duration{30'000}, /*dry_run=*/true);
  EXPECT_EQ(r.exit_code, kMitigationFailed) << "a trip that nobody mitigated needs a human";
  EXPECT_EQ(r.policies[0].state, "tripped_dry_run");
  EXPECT_EQ(h.world.applies, 0);
  EXPECT_EQ(h.world.rollbacks, 0);
  EXPECT_TRUE(h.world.incidents.empty()) << "sinks are side effects too";
  auto k = h.kinds();
  EXPECT_EQ(std::count(k.begin(), k.end(), "would_have"), 2 + 2) << "two actions, incident opened and updated";
  EXPECT_EQ(Harness::index_of(k, "action_intent"), -1);
}

TEST(Verify, StopSignalEndsTheBakeAsInconclusive) {
  Harness h;
  h.world.broken = false;
  std::atomic<bool> stop{true};
  VerifyReport r = h.run(Duration{30'000}, false, &stop);
  EXPECT_EQ(r.exit_code, kInconclusive);
  EXPECT_TRUE(r.interrupted);
}

TEST(Verify, ASlowSinkNeverHoldsUpTheFlip) {
  Harness h;
  h.hold = true;  // the sink blocks until released
  int applies_before_release = -1;
  VerifyReport r = h.run(Duration{30'000}, false, nullptr, [&] {
    applies_before_release = h.world.applies;
    h.hold = false;
  });
  EXPECT_EQ(applies_before_release, 1);
  EXPECT_EQ(r.exit_code, kMitigated);
}

}  // namespace
}  // namespace dg
