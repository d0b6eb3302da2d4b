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
  void dead_run(bool with_outcome = true, bool with_intended = false) {
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
  }

  Reconciliation reconcile(const std::string& run, const std::string& release, bool dry = false) {
    auto j = Journal::open(cfg.agent.journal, clock);
    EXPECT_TRUE(j);
    (*j)->set_context({"wiki", "prod", release, run});
    (*j)->append("config_loaded", {});
    Quiet q;
    IncidentNotifier n(rt.sink_pointers(), **j);
    Reconciliation r = reconcile_interrupted_runs(cfg, rt, **j, n, clock, release, run, dry, q);
    n.flush(std::chrono::seconds(5));
    (*j)->append("verify_finished", {});
    return r;
  }

  std::vector<json::object> of_kind(const std::string& kind) {
    std::vector<json::object> out;
    for (auto& r : journal_records(cfg.agent.journal))
      if (r.at("kind").as_string() == kind) out.push_back(r);
    return out;
  }
};

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
  ASSERT_EQ(f.sink->got.size(), 1u);
  EXPECT_EQ(f.sink->got[0].event, "updated");
  EXPECT_EQ(f.sink->got[0].key, "dg-k1");
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
  ASSERT_EQ(r.incidents.at("editor").kept_flips.size(), 1u);
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

}  // namespace
}  // namespace dg
