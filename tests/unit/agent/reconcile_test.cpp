// Reconciliation of interrupted runs against a fake flag provider: what a
// dead run left is read back, kept or undone once, and never reported again.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>

#include "agent/core/json_text.h"
#include "agent/verify/reconcile.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

class StateProvider final : public FlagProvider {
 public:
  std::string state = R"({"v":"off"})";
  int restores = 0;
  Result<FlagSnapshot> read(const std::string& flag) override { return FlagSnapshot{flag, state}; }
  Result<FlagOutcome> apply(const FlagChange&, const std::optional<FlagSnapshot>&) override { return fail("not used"); }
  Result<FlagOutcome> preview(const FlagChange&) override { return fail("not used"); }
  Result<FlagOutcome> restore(const FlagSnapshot& s, const std::optional<FlagSnapshot>& expected) override {
    if (expected && !same_state(*expected, {s.flag, state}))
      return FlagOutcome{false, {s.flag, state}, {s.flag, state}, "changed by someone else", /*conflict=*/true};
    ++restores;
    FlagOutcome o{true, {s.flag, state}, s, "restored"};
    state = s.state_json;
    return o;
  }
};

class Sink final : public IncidentSink {
 public:
  std::mutex mu;
  std::vector<Incident> got;
  Result<SinkOutcome> send(const Incident& i) override {
    std::lock_guard lock(mu);
    got.push_back(i);
    return SinkOutcome{1, "ok"};
  }
};

class Quiet final : public Progress {
 public:
  void event(const std::string&) override {}
  void status(const std::string&) override {}
};

struct Fixture {
  test::TempDir dir;
  Config cfg;
  Runtime rt;
  StateProvider* provider = nullptr;
  Sink* sink = nullptr;
  FakeClock clock;

  Fixture() {
    cfg.agent.service = "wiki";
    cfg.agent.environment = "prod";
    cfg.agent.journal = dir.file("journal.jsonl");
    PolicySpec p;
    p.name = "editor";
    cfg.policies = {p};
    auto prov = std::make_unique<StateProvider>();
    provider = prov.get();
    rt.flag_providers["flags"] = std::move(prov);
    auto s = std::make_unique<Sink>();
    sink = s.get();
    rt.sinks["log"] = std::move(s);
  }

  // A run of release 2 that flipped the flag and died verifying it.
  void dead_run(bool with_outcome = true, bool with_intended = false, bool opened_delivered = true) {
    auto j = Journal::open(cfg.agent.journal, clock);
    ASSERT_TRUE(j);
    (*j)->set_context({"wiki", "prod", "2", "dead"});
    (*j)->append("config_loaded", {});
    (*j)->append("policy_tripped", {{"policy", "editor"}, {"data", {{"incident", {{"key", "dg-k1"}}}}}});
    (*j)->append("action_intent", {{"policy", "editor"},
                                   {"data", {{"action", "flag"}, {"step", 1}, {"provider", "flags"},
                                             {"flag", "f"}, {"previous_state", {{"v", "on"}}},
                                             {"intended_state", with_intended ? json::value{{"v", "off"}} : json::value()}}}});
    if (with_outcome)
      (*j)->append("action_outcome", {{"policy", "editor"},
                                      {"data", {{"action", "flag"}, {"step", 1}, {"flag", "f"}, {"ok", true},
                                                {"changed", true}, {"previous_state", {{"v", "on"}}},
                                                {"new_state", {{"v", "off"}}}}}});
    // The opening goes out after the first step's side effect (engine.cpp).
    if (opened_delivered)
      (*j)->append("incident_opened",
                   {{"policy", "editor"}, {"data", {{"sink", "log"}, {"key", "dg-k1"}, {"status", "mitigating"}, {"ok", true}}}});
  }

  // A dead run whose ladder ended (users recovered, or not) and that was
  // killed before the final incident event was delivered, or just after.
  void ended_run(bool recovered, bool final_delivered) {
    auto j = Journal::open(cfg.agent.journal, clock);
    ASSERT_TRUE(j);
    (*j)->set_context({"wiki", "prod", "2", "dead"});
    (*j)->append("config_loaded", {});
    (*j)->append("policy_tripped", {{"policy", "editor"}, {"data", {{"incident", {{"key", "dg-k1"}}}}}});
    (*j)->append("incident_opened",
                 {{"policy", "editor"}, {"data", {{"sink", "log"}, {"key", "dg-k1"}, {"status", "mitigating"}, {"ok", true}}}});
    (*j)->append("action_intent", {{"policy", "editor"},
                                   {"data", {{"action", "rollback"}, {"step", 1}, {"rollback", "previous"}}}});
    (*j)->append("action_outcome", {{"policy", "editor"},
                                    {"data", {{"action", "rollback"}, {"step", 1}, {"rollback", "previous"}, {"ok", true}}}});
    (*j)->append(recovered ? "policy_recovered" : "mitigation_failed", {{"policy", "editor"}, {"data", {{"step", 1}}}});
    // The update sent before the ladder's end may be delivered after it.
    (*j)->append("incident_updated",
                 {{"policy", "editor"}, {"data", {{"sink", "log"}, {"key", "dg-k1"}, {"status", "mitigating"}, {"ok", true}}}});
    if (final_delivered)
      (*j)->append(recovered ? "incident_resolved" : "incident_updated",
                   {{"policy", "editor"},
                    {"data", {{"sink", "log"}, {"key", "dg-k1"}, {"status", recovered ? "mitigated" : "mitigation_failed"},
                              {"ok", true}}}});
  }

  // One run: reconciles, and (unless it dies in its bake) finishes with its
  // policy in `state`, as main does.
  Reconciliation reconcile(const std::string& run, const std::string& release, bool dry = false,
                           bool finished = true, const std::string& state = "healthy",
                           VerifyReport* out = nullptr) {
    auto j = Journal::open(cfg.agent.journal, clock);
    EXPECT_TRUE(j);
    (*j)->set_context({"wiki", "prod", release, run});
    (*j)->append("config_loaded", {});
    Quiet q;
    Reconciliation r;
    {
      IncidentNotifier n(rt.sink_pointers(), **j);
      r = reconcile_interrupted_runs(cfg, rt, **j, n, clock, release, run, dry, q);
      n.flush(std::chrono::seconds(5));
      if (finished) {
        VerifyReport report;
        report.release = release;
        report.policies.push_back(PolicyResult{.name = "editor", .state = state});
        finish_reconciliation(r, cfg, report, **j, n, clock, dry);
        n.flush(std::chrono::seconds(5));
        if (out) *out = report;
      }
    }
    if (finished) (*j)->append("verify_finished", {});
    return r;
  }

  std::vector<json::object> of_kind(const std::string& kind) {
    std::vector<json::object> out;
    for_each_record(cfg.agent.journal, [&](json::object& r) {
      if (r.at("kind").as_string() == kind) out.push_back(std::move(r));
      return true;
    });
    return out;
  }
};

TEST(Reconcile, ASinkThatNeverGotTheOpeningGetsItFromTheRunThatContinues) {
  Fixture f;
  f.dead_run(true, false, false);  // killed between the flip and the delivery
  Reconciliation r = f.reconcile("r2", "2", false);
  ASSERT_TRUE(r.incidents.contains("editor"));
  ASSERT_FALSE(f.sink->got.empty());
  EXPECT_EQ(f.sink->got[0].event, "opened") << "the sink never acknowledged it";
  EXPECT_EQ(f.sink->got[0].key, "dg-k1");
}

TEST(Reconcile, AnotherReleaseUndoesTheDeadRunsFlipOnceAndContinuesItsIncident) {
  Fixture f;
  f.dead_run();
  Reconciliation r = f.reconcile("r2", "3");
  EXPECT_EQ(r.runs, 1);
  EXPECT_FALSE(r.human_needed);
  EXPECT_EQ(f.provider->restores, 1);
  EXPECT_EQ(f.provider->state, R"({"v":"on"})");
  ASSERT_TRUE(r.incidents.contains("editor"));
  EXPECT_EQ(r.incidents.at("editor").incident.key, "dg-k1") << "the dead run's key, read back from its trip";
  ASSERT_EQ(f.sink->got.size(), 2u) << "updated by the reconciliation, resolved after the (healthy) bake";
  EXPECT_EQ(f.sink->got[0].event, "updated");
  EXPECT_EQ(f.sink->got[0].key, "dg-k1");
  EXPECT_EQ(f.sink->got[1].event, "resolved");
  auto rec = f.of_kind("reconciled");
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].at("data").at("run").as_string(), "dead");
  EXPECT_EQ(rec[0].at("data").at("flips").at(0).at("decision").as_string(), "undone");
  // The undo itself is an intent and an outcome, as every action.
  EXPECT_EQ(f.of_kind("action_intent").size(), 2u);

  Reconciliation again = f.reconcile("r3", "3");
  EXPECT_EQ(again.runs, 0) << "closed: never reported again";
  EXPECT_EQ(f.provider->restores, 1);
  EXPECT_TRUE(verify_journal(f.cfg.agent.journal).ok);
}

TEST(Reconcile, AFlagChangedSinceTheDeadRunIsLeftAlone) {
  Fixture f;
  f.dead_run();
  f.provider->state = R"({"v":"someone else's"})";
  Reconciliation r = f.reconcile("r2", "3");
  EXPECT_EQ(f.provider->restores, 0);
  EXPECT_EQ(f.of_kind("reconciled")[0].at("data").at("flips").at(0).at("decision").as_string(), "left");
}

TEST(Reconcile, AnOrphanFlipIsReadBackFromTheProvider) {
  Fixture f;
  f.dead_run(/*with_outcome=*/false);  // killed between intent and outcome
  f.provider->state = R"({"v":"on"})";  // the flip never reached the file
  Reconciliation r = f.reconcile("r2", "2");
  EXPECT_FALSE(r.human_needed);
  auto rec = f.of_kind("reconciled");
  ASSERT_EQ(rec.size(), 1u);
  const auto& finding = rec[0].at("data").at("findings").at(0).as_object();
  EXPECT_EQ(finding.at("found").as_string(), "not_applied");
  EXPECT_EQ(finding.at("intent_seq").as_int64(), 3);
  EXPECT_TRUE(rec[0].at("data").at("flips").as_array().empty());
}

TEST(Reconcile, ADryRunChangesNothingAndClosesNothing) {
  Fixture f;
  f.dead_run();
  f.reconcile("r2", "3", /*dry=*/true);
  EXPECT_EQ(f.provider->restores, 0);
  EXPECT_TRUE(f.sink->got.empty());
  EXPECT_TRUE(f.of_kind("reconciled").empty());
  Reconciliation r = f.reconcile("r3", "3");
  EXPECT_EQ(r.runs, 1) << "the next real run still reconciles it";
  EXPECT_EQ(f.provider->restores, 1);
}

TEST(Reconcile, KeptFlipThatProvesHealthyEndsAsMitigatedAndResolvesTheIncident) {
  Fixture f;
  f.dead_run();
  Reconciliation r = f.reconcile("r2", "2");
  EXPECT_EQ(f.provider->restores, 0) << "same release: kept";
  ASSERT_EQ(r.incidents.at("editor").flips.size(), 1u);
  VerifyReport report;
  report.release = "2";
  report.exit_code = kHealthy;
  report.policies.push_back(PolicyResult{.name = "editor", .state = "healthy"});
  auto j = Journal::open(f.cfg.agent.journal, f.clock);
  ASSERT_TRUE(j);
  {
    IncidentNotifier n(f.rt.sink_pointers(), **j);
    finish_reconciliation(r, f.cfg, report, **j, n, f.clock, false);
    n.flush(std::chrono::seconds(5));
  }
  EXPECT_EQ(report.exit_code, kMitigated);
  EXPECT_EQ(report.policies[0].state, "mitigated");
  EXPECT_EQ(f.sink->got.back().event, "resolved");
  EXPECT_EQ(f.sink->got.back().key, "dg-k1");
}

TEST(Reconcile, AnOrphanFlipWhoseFlagHoldsNeitherStateWasChangedBySomeoneElse) {
  Fixture f;
  f.dead_run(/*with_outcome=*/false, /*with_intended=*/true);
  f.provider->state = R"({"v":"someone else's"})";
  Reconciliation r = f.reconcile("r2", "3");
  EXPECT_EQ(f.provider->restores, 0) << "not ours to undo";
  auto rec = f.of_kind("reconciled");
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].at("data").at("findings").at(0).at("found").as_string(), "changed_by_someone_else");
  EXPECT_TRUE(rec[0].at("data").at("flips").as_array().empty());
}

TEST(Reconcile, AnOrphanFlipHoldingItsIntendedStateWasApplied) {
  Fixture f;
  f.dead_run(/*with_outcome=*/false, /*with_intended=*/true);
  f.provider->state = R"({"v":"off"})";
  Reconciliation r = f.reconcile("r2", "3");
  auto rec = f.of_kind("reconciled");
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].at("data").at("findings").at(0).at("found").as_string(), "applied");
  EXPECT_EQ(f.provider->restores, 1) << "another release: the dead run's flip is undone";
  EXPECT_EQ(f.provider->state, R"({"v":"on"})");
}

// Run 2 reconciles run 1 (keeps its flip, continues its incident) and dies in
// its bake: run 3 takes the incident over from run 2 and closes it.
TEST(Reconcile, ARunThatDiesAfterTakingOverAnIncidentPassesItOn) {
  Fixture f;
  f.dead_run();
  Reconciliation r2 = f.reconcile("r2", "2", false, /*finished=*/false);
  ASSERT_EQ(r2.runs, 1);
  size_t sent = f.sink->got.size();
  VerifyReport report;
  Reconciliation r3 = f.reconcile("r3", "2", false, true, "healthy", &report);
  EXPECT_EQ(r3.runs, 1) << "run r2 died holding run 1's incident";
  ASSERT_TRUE(r3.incidents.contains("editor")) << "the incident r2 took over is r2's open trip";
  EXPECT_EQ(r3.incidents.at("editor").incident.key, "dg-k1");
  EXPECT_EQ(r3.incidents.at("editor").flips.size(), 1u) << "the flip r2 kept is still the mitigation";
  EXPECT_EQ(f.provider->restores, 0);
  ASSERT_GT(f.sink->got.size(), sent);
  EXPECT_EQ(f.sink->got.back().event, "resolved");
  EXPECT_EQ(f.sink->got.back().key, "dg-k1");
  EXPECT_EQ(report.exit_code, kMitigated);
  // Run 4 dies after run 3's close was delivered: nothing is owed any more.
  sent = f.sink->got.size();
  Reconciliation r4 = f.reconcile("r4", "2", false, /*finished=*/false);
  EXPECT_EQ(r4.runs, 0);
  Reconciliation r5 = f.reconcile("r5", "2");
  EXPECT_EQ(r5.runs, 1) << "r4 died";
  EXPECT_TRUE(r5.incidents.empty()) << "r4 held no incident";
  EXPECT_EQ(f.sink->got.size(), sent);
  EXPECT_TRUE(verify_journal(f.cfg.agent.journal).ok);
}

// Killed after the ladder's end but before its final event was delivered:
// the next run sends that event (once), and continues nothing.
TEST(Reconcile, AFinalEventTheDeadRunNeverDeliveredIsSentOnce) {
  for (bool recovered : {true, false}) {
    SCOPED_TRACE(recovered ? "recovered" : "mitigation failed");
    Fixture f;
    f.ended_run(recovered, /*final_delivered=*/false);
    Reconciliation r = f.reconcile("r2", "2", false, /*finished=*/false);
    EXPECT_EQ(r.runs, 1);
    EXPECT_TRUE(r.incidents.empty()) << "the ladder ended: nothing to continue";
    EXPECT_FALSE(r.human_needed);
    ASSERT_EQ(f.sink->got.size(), 1u);
    EXPECT_EQ(f.sink->got[0].event, recovered ? "resolved" : "updated");
    EXPECT_EQ(f.sink->got[0].status, recovered ? "mitigated" : "mitigation_failed");
    EXPECT_EQ(f.sink->got[0].key, "dg-k1");
    auto rec = f.of_kind("reconciled");
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec[0].at("data").at("caught_up").at(0).at("key").as_string(), "dg-k1");
    // r2 died too, but after the event was delivered: not sent again.
    Reconciliation again = f.reconcile("r3", "2");
    EXPECT_EQ(again.runs, 1);
    EXPECT_EQ(f.sink->got.size(), 1u);
  }
}

// A dry run closes nothing: an orphan whose effect cannot be read back must
// not make every dry run exit 3.
TEST(Reconcile, ADryRunWarnsOfAnOrphanRollbackButDoesNotExitThree) {
  Fixture f;
  {
    auto j = Journal::open(f.cfg.agent.journal, f.clock);
    ASSERT_TRUE(j);
    (*j)->set_context({"wiki", "prod", "2", "dead"});
    (*j)->append("config_loaded", {});
    (*j)->append("policy_tripped", {{"policy", "editor"}, {"data", {{"incident", {{"key", "dg-k1"}}}}}});
    (*j)->append("action_intent", {{"policy", "editor"},
                                   {"data", {{"action", "rollback"}, {"step", 1}, {"rollback", "previous"}}}});
  }
  for (int i = 0; i < 2; ++i) {
    VerifyReport report;
    Reconciliation r = f.reconcile("dry" + std::to_string(i), "2", /*dry=*/true, true, "healthy", &report);
    EXPECT_TRUE(r.human_needed);
    EXPECT_EQ(report.exit_code, kInconclusive);
    EXPECT_FALSE(report.warnings.empty());
  }
  EXPECT_TRUE(f.of_kind("interrupted_incident_closed").empty());
  VerifyReport report;
  f.reconcile("real", "2", false, true, "healthy", &report);
  EXPECT_EQ(report.exit_code, kMitigationFailed) << "the real run reconciles it: 3, once";
  f.reconcile("after", "2", false, true, "healthy", &report);
  EXPECT_EQ(report.exit_code, kHealthy);
}

TEST(Reconcile, ADeliveredFinalEventIsNotSentAgain) {
  Fixture f;
  f.ended_run(/*recovered=*/false, /*final_delivered=*/true);
  Reconciliation r = f.reconcile("r2", "2");
  EXPECT_EQ(r.runs, 1);
  EXPECT_TRUE(f.sink->got.empty());
}

}  // namespace
}  // namespace dg
