// The remediation engine as the watcher drives it, in simulated time: events
// in (observations, an action's outcome arriving later, time passing), every
// policy with its own ladder, releases, the button, pause, and a restart
// from the journal's state records.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/engine/engine.h"
#include "agent/engine/signal_reader.h"
#include "policies/canary_test.h"
#include "agent/journal/journal.h"
#include "tests/support/fake_world.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

PolicySpec policy(const std::string& name, const std::string& probe, bool with_rollback) {
  PolicySpec p;
  p.name = name;
  p.service = "wiki";
  p.probes = {probe};
  p.consecutive_failures = 2;
  p.verify_for = Duration{5000};
  p.recovery_passes = 2;
  p.actions.push_back(ActionSpec{"flag", FlagActionSpec{"flags", "connect-framework", "off", "", ""}});
  if (with_rollback) p.actions.push_back(ActionSpec{"rollback", RollbackActionSpec{"previous"}});
  return p;
}

struct EngineHarness {
  World world;
  test::TempDir dir;
  std::shared_ptr<Config> cfg = std::make_shared<Config>();
  Runtime rt;
  FakeClock clock;
  NullProgress progress;
  std::unique_ptr<Journal> journal;
  std::unique_ptr<IncidentNotifier> notifier;
  std::unique_ptr<Engine> engine;
  std::vector<std::function<void(Result<RollbackOutcome>)>> pending_rollbacks;
  std::vector<EngineEvent> events;

  explicit EngineHarness(bool two_policies = false, bool other_rolls_back = false) {
    cfg->agent.service = "wiki";
    cfg->agent.environment = "prod";
    cfg->agent.journal = dir.file("journal.jsonl");
    cfg->services = {ServiceSpec{"wiki", "1"}};
    cfg->policies = {policy("editor", "zero", true)};
    rt.probes["zero"] = std::make_unique<FakeProbe>("zero", world, true);
    if (two_policies) {
      cfg->policies.push_back(policy("other", "other_probe", other_rolls_back));
      rt.probes["other_probe"] = std::make_unique<FakeProbe>("other_probe", world, true);
    }
    rt.flag_providers["flags"] = std::make_unique<FakeProvider>(world);
    rt.rollbacks["previous"] = std::make_unique<FakeRollback>(world);
    rt.sinks["log"] = std::make_unique<RecordingSink>(world);
    open();
    start();
  }

  void open() {
    engine.reset();
    notifier.reset();
    journal.reset();
    auto j = Journal::open(cfg->agent.journal, clock);
    EXPECT_TRUE(j);
    journal = std::move(*j);
    journal->set_context({"wiki", "prod", "1", "run"});
    notifier = std::make_unique<IncidentNotifier>(rt.sink_pointers(), *journal);
  }

  void start(std::map<std::string, ContinuedIncident> continued = {}) {
    engine = std::make_unique<Engine>(
        cfg,
        EngineEnv{rt, *journal, *notifier, clock, progress,
                  // A rollback finishes later, as on the watcher's loop.
                  [this](RollbackAction& rb, std::function<void(Result<RollbackOutcome>)> done) {
                    pending_rollbacks.push_back([&rb, done](Result<RollbackOutcome>) { done(rb.run()); });
                  },
                  [this](const EngineEvent& e) { events.push_back(e); }},
        EngineOptions{.release = "1", .release_started = clock.now(), .continue_incidents = std::move(continued),
                      .exclusive = false, .journal_states = true, .releases = {{"wiki", "1"}}});
  }

  // One run of a probe, fed to the engine, a second later.
  void tick(const std::string& probe = "zero") {
    clock.advance(Duration{1000});
    engine->observe(rt.probes.at(probe)->run(clock));
    engine->advance();
  }

  void finish_rollbacks() {
    auto pending = std::move(pending_rollbacks);
    pending_rollbacks.clear();
    for (auto& p : pending) p(RollbackOutcome{});
    engine->advance();
  }

  std::vector<json::object> records(const std::string& kind) {
    std::vector<json::object> out;
    for_each_record(cfg->agent.journal, [&](json::object& r) {
      if (r.at("kind").as_string() == kind) out.push_back(r);
      return true;
    });
    return out;
  }
};

TEST(Engine, ATripFlipsAndRecoversWithoutBlocking) {
  EngineHarness h;
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Watching);
  h.tick();  // second failure: trips, flips at once
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying);
  EXPECT_EQ(h.world.applies, 1);
  auto urgent = h.engine->take_urgent();
  EXPECT_TRUE(urgent.contains("zero")) << "a verification runs its signals now";
  h.tick();
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  EXPECT_FALSE(h.engine->ladder_in_flight());
  // Every transition is journaled with the machine's state, the last one mitigated.
  auto states = h.records("policy_state");
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back().at("data").at("state").as_string(), "mitigated");
}

TEST(Engine, EveryPolicyHasItsOwnLadderAndARollbackFinishesLater) {
  EngineHarness h(true);
  h.world.flag_helps = false;  // the flip does not help: both escalate or fail
  h.tick();
  h.tick("other_probe");
  h.tick();
  h.tick("other_probe");
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying);
  EXPECT_EQ(h.engine->state("other"), LadderState::Verifying) << "a second policy is not frozen by the first";
  // Verifications run out: editor escalates to its rollback, which is in
  // flight until the loop delivers its outcome; other has no step left.
  h.clock.advance(Duration{6000});
  h.engine->advance();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigating);
  EXPECT_EQ(h.engine->state("other"), LadderState::Failed);
  ASSERT_EQ(h.pending_rollbacks.size(), 1u);
  EXPECT_EQ(h.world.rollbacks, 0) << "the rollback has not run yet";
  h.tick("other_probe");  // the engine keeps taking events meanwhile
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 1);
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying);
  h.tick();
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigated);
}

TEST(Engine, ANewReleaseIsJudgedOnItsOwnAndALadderInFlightKeepsItsRelease) {
  EngineHarness h(true);
  h.world.flag_helps = false;
  h.tick();
  h.tick();  // editor tripped on release 1
  ASSERT_EQ(h.engine->state("editor"), LadderState::Verifying);
  h.tick("other_probe");  // one failure of other under release 1
  ASSERT_TRUE(h.engine->announce({.service = "wiki", .release = "2"}));
  EXPECT_EQ(h.engine->release_of("editor").first, "1") << "the ladder in flight finishes against release 1";
  EXPECT_EQ(h.engine->release_of("other").first, "2");
  h.tick("other_probe");
  EXPECT_EQ(h.engine->state("other"), LadderState::Watching) << "a failure before release 2 does not count for it";
  h.tick("other_probe");
  EXPECT_EQ(h.engine->state("other"), LadderState::Verifying);
  auto trips = h.records("policy_tripped");
  ASSERT_EQ(trips.size(), 2u);
  EXPECT_EQ(trips[0].at("data").at("release").as_string(), "1");
  EXPECT_EQ(trips[1].at("data").at("release").as_string(), "2");
  EXPECT_FALSE(h.engine->announce({.service = "nope", .release = "3"})) << "an unknown service is refused";
}

TEST(Engine, APausedPolicyIsNotJudgedAndAStepInFlightCannotBePaused) {
  EngineHarness h;
  ASSERT_TRUE(h.engine->pause("editor", "alice", "maintenance"));
  EXPECT_FALSE(h.engine->wants("zero"));
  for (int i = 0; i < 4; ++i) h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Paused);
  EXPECT_EQ(h.world.applies, 0);
  ASSERT_TRUE(h.engine->resume("editor", "alice"));
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Watching) << "judged on what is observed after the resume";
  h.tick();
  EXPECT_EQ(h.world.applies, 1);
  // A rollback in flight: pausing waits for the step.
  h.world.flag_helps = false;
  h.clock.advance(Duration{6000});
  h.engine->advance();
  ASSERT_EQ(h.engine->state("editor"), LadderState::Mitigating);
  EXPECT_FALSE(h.engine->pause("editor", "bob", ""));
  EXPECT_EQ(h.records("policy_paused").size(), 1u);
}

TEST(Engine, TheButtonOpensOneIncidentPerScopeAndCanStartALadder) {
  EngineHarness h;
  h.world.broken = false;
  auto a = h.engine->alarm({.reason = "search is slow", .who = "alice", .scope = "tenant acme"});
  auto b = h.engine->alarm({.reason = "still slow", .who = "bob", .scope = "tenant acme"});
  auto c = h.engine->alarm({.reason = "login fails", .who = "carol", .scope = "tenant globex"});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b) << "a second press for the same scope updates the open incident";
  EXPECT_NE(*a, *c);
  EXPECT_EQ(h.engine->alarm_incidents().size(), 2u);
  auto d = h.engine->alarm({.reason = "editor blank", .who = "dave", .policy = "editor"});
  ASSERT_TRUE(d);
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying) << "naming a policy starts its ladder";
  EXPECT_EQ(h.world.applies, 1);
  EXPECT_FALSE(h.engine->alarm({.reason = "x", .policy = "nope"}));
  h.notifier->flush(std::chrono::seconds(5));
  std::lock_guard lock(h.world.mu);
  EXPECT_EQ(std::count_if(h.world.incidents.begin(), h.world.incidents.end(),
                          [&](const std::string& e) { return e.find(*a) != std::string::npos; }),
            2);
}

TEST(Engine, ARestartResumesEachMachineAndNeverFlipsTwice) {
  EngineHarness h(true);
  ASSERT_TRUE(h.engine->pause("other", "alice", ""));
  h.tick();
  h.tick();  // editor flipped, verifying
  h.tick();
  h.tick();
  ASSERT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  json::object snap = h.engine->snapshot();
  std::string key = h.engine->ladder("editor").incident_key;
  int applies = h.world.applies;
  // A clean restart from the snapshot: the same states, the same incident, no flip.
  h.open();
  h.start();
  h.engine->restore(snap, {}, true);
  EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  EXPECT_EQ(h.engine->state("other"), LadderState::Paused) << "a pause survives the restart";
  EXPECT_EQ(h.engine->ladder("editor").incident_key, key);
  for (int i = 0; i < 4; ++i) h.tick();
  EXPECT_EQ(h.world.applies, applies) << "a restored mitigation is not flipped again";
}

TEST(Engine, AVerificationInterruptedByACleanStopIsVerifiedAgainAfterTheRestart) {
  EngineHarness h;
  h.tick();
  h.tick();
  ASSERT_EQ(h.engine->state("editor"), LadderState::Verifying);
  json::object snap = h.engine->snapshot();
  std::string key = h.engine->ladder("editor").incident_key;
  h.open();
  h.start();
  h.engine->restore(snap, {}, true);
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying);
  EXPECT_TRUE(h.engine->take_urgent().contains("zero"));
  h.tick();
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  EXPECT_EQ(h.world.applies, 1);
  EXPECT_EQ(h.engine->ladder("editor").incident_key, key) << "the same incident is resolved";
}

TEST(Engine, LiftingAMitigationRestoresTheFlagAndATripMeanwhileFlipsAgainUnderTheSameIncident) {
  EngineHarness h;
  h.tick();
  h.tick();
  h.tick();
  h.tick();
  ASSERT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  std::string key = h.engine->ladder("editor").incident_key;
  EXPECT_FALSE(h.engine->lift("nope", "ci"));
  ASSERT_TRUE(h.engine->lift("editor", "ci"));
  EXPECT_EQ(h.world.restores, 1) << "the flag is restored";
  EXPECT_EQ(h.engine->state("editor"), LadderState::Watching);
  // The fix did not fix it: the policy trips again and flips again, same incident.
  h.tick();
  h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Verifying);
  EXPECT_EQ(h.world.applies, 2);
  EXPECT_EQ(h.engine->ladder("editor").incident_key, key);
  h.tick();
  h.tick();
  ASSERT_EQ(h.engine->state("editor"), LadderState::Mitigated);
  // This time the release fixes it: the lift holds for verify_for.
  h.world.broken = false;
  ASSERT_TRUE(h.engine->lift("editor", "ci"));
  for (int i = 0; i < 6; ++i) h.tick();
  EXPECT_EQ(h.engine->state("editor"), LadderState::Watching);
  EXPECT_EQ(h.records("mitigation_lifted").size(), 1u);
  EXPECT_EQ(h.world.applies, 2);
}

}  // namespace
}  // namespace dg

namespace dg {
namespace {

// A raw canary look (signal_reader.h): each arm's one series, tagged.
MetricReading look(const std::string& id, TimePoint at, double ce, double ct, double be, double bt) {
  MetricReading r{.signal = id, .at = at, .status = ReadingStatus::Ok};
  double v[4] = {ce, ct, be, bt};
  for (int i = 0; i < 4; ++i) r.series.push_back({{{"pod", "a"}, {kArmLabel, std::to_string(i)}}, v[i]});
  return r;
}

TEST(Engine, CanaryCountingGoesOnAcrossARestart) {
  EngineHarness h;
  PolicySpec p;
  p.name = "canary";
  p.service = "wiki";
  MetricCondition c;
  c.id = "canary/errors";
  c.source = "prom";
  c.kind = MetricCondition::Kind::Canary;
  p.metrics = {c};
  p.actions.push_back(ActionSpec{"flag", FlagActionSpec{"flags", "connect-framework", "off", "", ""}});
  h.cfg->policies = {p};
  h.open();
  h.start();
  auto counted = [&] {
    const auto& m = h.engine->metric_history().at("canary/errors");
    return canary_counts_of(m.back().series);
  };
  h.engine->read(look("canary/errors", h.clock.now(), 100, 1000, 100, 1000));  // the bases
  h.clock.advance(Duration{1000});
  h.engine->read(look("canary/errors", h.clock.now(), 101, 1100, 101, 1100));
  EXPECT_DOUBLE_EQ(counted().canary_total, 100);
  json::object snap = h.engine->snapshot();
  h.open();
  h.start();
  h.engine->restore(snap, {}, true);
  h.clock.advance(Duration{1000});
  h.engine->read(look("canary/errors", h.clock.now(), 102, 1200, 102, 1200));
  EXPECT_DOUBLE_EQ(counted().canary_total, 200) << "counting goes on from the saved bases, not from zero";
  EXPECT_DOUBLE_EQ(counted().baseline_errors, 2);
}

// Both policies of one service end on a rollback that does not help: the
// flips fail verification at once, and the ladders escalate.
void escalate_both(EngineHarness& h) {
  h.world.flag_helps = false;
  h.world.rollback_helps = false;
  h.tick();
  h.tick("other_probe");
  h.tick();
  h.tick("other_probe");
  h.clock.advance(Duration{6000});
  h.engine->advance();
}

TEST(Engine, TheRollbackBudgetOfAServiceHoldsAcrossPoliciesAndRestarts) {
  EngineHarness h(true, true);
  h.cfg->services[0].rails.max_rollbacks = 1;
  escalate_both(h);
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 1) << "the second rollback of the hour is over the budget";
  auto blocked = h.records("action_blocked");
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].at("data").at("reason").as_string(), "budget");
  EXPECT_EQ(blocked[0].at("policy").as_string(), "other");
  EXPECT_EQ(h.engine->state("other"), LadderState::Failed) << "a blocked last step leaves it to a human";
  const auto& other = h.engine->ladder("other");
  ASSERT_FALSE(other.actions.empty());
  EXPECT_EQ(other.actions.back().outcome, "blocked") << "visible in the report";

  // A restart counts the rollbacks the journal holds: still spent.
  h.open();
  h.start();
  h.world.incidents.clear();
  h.tick();
  h.tick();
  h.clock.advance(Duration{6000});
  h.engine->advance();
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 1) << "the budget is counted from the journal, across restarts";
  EXPECT_EQ(h.records("action_blocked").size(), 2u);
  // An hour later the budget has room again.
  h.clock.advance(Duration{3'600'000});
  h.open();
  h.start();
  h.tick();
  h.tick();
  h.clock.advance(Duration{6000});
  h.engine->advance();
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 2);
}

TEST(Engine, TheCooldownDelaysASecondRollbackButNeverAFlip) {
  EngineHarness h(true, true);
  h.cfg->services[0].rails.cooldown = Duration{30'000};
  escalate_both(h);
  EXPECT_EQ(h.world.applies, 2) << "both flips ran at once";
  ASSERT_EQ(h.pending_rollbacks.size(), 1u) << "only the first rollback started";
  auto delayed = h.records("action_delayed");
  ASSERT_EQ(delayed.size(), 1u);
  EXPECT_EQ(delayed[0].at("data").at("reason").as_string(), "cooldown");
  ASSERT_TRUE(h.engine->next_deadline()) << "the driver wakes the engine when the cooldown ends";
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 1);
  h.clock.advance(Duration{25'000});
  h.engine->advance();
  EXPECT_TRUE(h.pending_rollbacks.empty()) << "still cooling down";
  h.clock.advance(Duration{6'000});
  h.engine->advance();
  ASSERT_EQ(h.pending_rollbacks.size(), 1u);
  h.finish_rollbacks();
  EXPECT_EQ(h.world.rollbacks, 2);
}

TEST(Engine, ARollbackInItsVetoWindowWaitsForAHumanAndSilenceRunsIt) {
  for (std::string answer : {"approve", "veto", "silence"}) {
    SCOPED_TRACE(answer);
    EngineHarness h;
    std::get<RollbackActionSpec>(h.cfg->policies[0].actions[1].kind).confirm_within = Duration{60'000};
    h.world.flag_helps = false;
    h.tick();
    h.tick();
    EXPECT_EQ(h.world.applies, 1) << "the flip never waits";
    h.clock.advance(Duration{6000});
    h.engine->advance();
    EXPECT_EQ(h.engine->state("editor"), LadderState::Mitigating);
    EXPECT_TRUE(h.pending_rollbacks.empty()) << "the rollback waits in its window";
    EXPECT_FALSE(h.engine->approve("nope", "alice", "")) << "an unknown policy";
    if (answer == "approve") {
      ASSERT_TRUE(h.engine->approve("editor", "alice", "go"));
      EXPECT_EQ(h.pending_rollbacks.size(), 1u);
      EXPECT_EQ(h.records("rollback_approved").size(), 1u);
      EXPECT_FALSE(h.engine->veto("editor", "bob", "")) << "nothing waits any more";
    } else if (answer == "veto") {
      ASSERT_TRUE(h.engine->veto("editor", "bob", "we are on it"));
      EXPECT_TRUE(h.pending_rollbacks.empty());
      EXPECT_EQ(h.engine->state("editor"), LadderState::Failed);
      auto v = h.records("rollback_vetoed");
      ASSERT_EQ(v.size(), 1u);
      EXPECT_EQ(v[0].at("data").at("by").as_string(), "bob");
      EXPECT_EQ(h.engine->ladder("editor").actions.back().outcome, "vetoed");
    } else {
      h.clock.advance(Duration{59'000});
      h.engine->advance();
      EXPECT_TRUE(h.pending_rollbacks.empty());
      h.clock.advance(Duration{2'000});
      h.engine->advance();
      EXPECT_EQ(h.pending_rollbacks.size(), 1u) << "nobody vetoed within the window";
      EXPECT_EQ(h.records("rollback_confirmed").size(), 1u);
    }
    h.finish_rollbacks();
    EXPECT_EQ(h.world.rollbacks, answer == "veto" ? 0 : 1);
  }
}

}  // namespace
}  // namespace dg
