// The verify engine's flag steps against the real flagd-file provider while
// someone else edits the same flag: the flip re-reads when its recorded state
// went stale, and the undo of a flip that did not help never overwrites a
// later change by someone else. Simulated time; the "someone else" acts
// inside a probe run or just before the provider's write.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cerrno>
#include <fstream>
#include <functional>
#include <mutex>

#include "probes/http_probe.h"
#include "agent/core/fs.h"
#include "agent/verify/verify.h"
#include "flags/flagd_file.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

const char* kFlags = R"({"flags": {
  "connect-framework": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "dark-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}
}})";
const char* kSegment = R"({"===":[{"var":"pluginCount"},0]})";

void edit_by_hand(const std::string& path, const std::string& key, json::value v) {
  json::value d = json::parse(test::slurp(path));
  d.at("flags").at("connect-framework").as_object()[key] = std::move(v);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << json::serialize(d);
}

struct World {
  std::mutex mu;
  bool rolled_back = false;
  std::function<void()> during_verification;  // runs once, on the first probe run after the flip
  bool flipped = false;
};

// Fails until the rollback: the flip never helps, so the ladder undoes it.
class FailingProbe final : public Probe {
 public:
  explicit FailingProbe(World& w) : w_(w) {}
  Observation run(const Clock& clock) override {
    std::lock_guard lock(w_.mu);
    if (w_.flipped && w_.during_verification) std::exchange(w_.during_verification, {})();
    Observation o{.signal = "zero", .at = clock.now(), .latency = Duration{1}};
    o.outcome = w_.rolled_back ? Outcome::Passed : Outcome::Failed;
    o.detail = w_.rolled_back ? "status 200" : "status 500";
    return o;
  }

 private:
  World& w_;
};

class Rollback final : public RollbackAction {
 public:
  explicit Rollback(World& w) : w_(w) {}
  Result<RollbackOutcome> run() override {
    std::lock_guard lock(w_.mu);
    w_.rolled_back = true;
    return RollbackOutcome{.ok = true, .exit_code = 0, .detail = "exit code 0"};
  }

 private:
  World& w_;
};

// The real provider; `before_apply` runs once just before the first write
// (after the engine journaled its intent).
class Interposed final : public FlagProvider {
 public:
  Interposed(std::unique_ptr<FlagProvider> real, World& w) : real_(std::move(real)), w_(w) {}
  Result<FlagSnapshot> read(const std::string& flag) override { return real_->read(flag); }
  Result<FlagOutcome> preview(const FlagChange& c) override { return real_->preview(c); }
  Result<FlagOutcome> apply(const FlagChange& c, const std::optional<FlagSnapshot>& expected) override {
    if (before_apply) std::exchange(before_apply, {})();
    auto r = real_->apply(c, expected);
    std::lock_guard lock(w_.mu);
    w_.flipped = w_.flipped || (r && r->changed);
    return r;
  }
  Result<FlagOutcome> restore(const FlagSnapshot& s, const std::optional<FlagSnapshot>& expected) override {
    return real_->restore(s, expected);
  }
  std::function<void()> before_apply;

 private:
  std::unique_ptr<FlagProvider> real_;
  World& w_;
};

class NullProgress final : public Progress {
 public:
  void event(const std::string&) override {}
  void status(const std::string&) override {}
};

struct Harness {
  World world;
  test::TempDir dir;
  std::string flags = dir.write("flags.json", kFlags);
  Config cfg;
  Runtime rt;
  Interposed* provider = nullptr;
  FakeClock clock;

  Harness() {
    cfg.agent.service = "wiki";
    cfg.agent.environment = "prod";
    cfg.agent.journal = dir.file("journal.jsonl");
    cfg.probes = {ProbeSpec{.name = "zero", .type = "http", .interval = Duration{1000}, .timeout = Duration{500},
                            .kind = HttpProbeSpec{}}};
    PolicySpec p;
    p.name = "editor";
    p.probes = {"zero"};
    p.verify_for = Duration{5000};
    p.actions.push_back(
        ActionSpec{"flag", FlagActionSpec{"flags", "connect-framework", "off", "pluginCount == 0", kSegment}});
    p.actions.push_back(ActionSpec{"rollback", RollbackActionSpec{"previous"}});
    cfg.policies = {p};
    rt.probes["zero"] = std::make_unique<FailingProbe>(world);
    auto real = make_flagd_file_provider({"flags", "flagd-file", FlagdFileSpec{flags}});
    EXPECT_TRUE(real);
    auto prov = std::make_unique<Interposed>(std::move(*real), world);
    provider = prov.get();
    rt.flag_providers["flags"] = std::move(prov);
    rt.rollbacks["previous"] = std::make_unique<Rollback>(world);
  }

  VerifyReport run() {
    auto journal = Journal::open(cfg.agent.journal, clock);
    EXPECT_TRUE(journal);
    (*journal)->set_context({"wiki", "prod", "2", "run"});
    NullProgress progress;
    VerifyOptions opt{.release = "2", .bake = Duration{30'000}};
    IncidentNotifier notifier(rt.sink_pointers(), **journal);
    VerifyReport r = run_verify(cfg, rt, **journal, notifier, clock, opt, progress);
    notifier.flush(std::chrono::seconds(5));
    return r;
  }

  // The journal's flag records: (kind, data) of action_intent / action_outcome.
  std::vector<std::pair<std::string, json::object>> flag_records() const {
    std::vector<std::pair<std::string, json::object>> out;
    std::string content = test::slurp(cfg.agent.journal);
    size_t start = 0;
    for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1) {
      json::object rec = json::parse(content.substr(start, nl - start)).as_object();
      std::string kind(rec.at("kind").as_string());
      if (kind != "action_intent" && kind != "action_outcome") continue;
      const json::object& d = rec.at("data").as_object();
      if (d.at("action") != "flag" && d.at("action") != "undo_flag") continue;
      out.emplace_back(kind, d);
    }
    return out;
  }

  json::object flag() const {
    return json::parse(test::slurp(flags)).at("flags").at("connect-framework").as_object();
  }
};

TEST(VerifyFlagCas, UndoKeepsAChangeSomeoneElseMadeAfterOurFlip) {
  Harness h;
  // While the guard verifies its flip, a person turns the feature off for everyone.
  h.world.during_verification = [&] { edit_by_hand(h.flags, "defaultVariant", "off"); };
  VerifyReport r = h.run();
  ASSERT_EQ(r.policies.size(), 1u);
  EXPECT_EQ(r.policies[0].state, "mitigated") << "the ladder goes on to the rollback";
  EXPECT_EQ(h.flag().at("defaultVariant"), "off") << "the undo overwrote the person's change";

  auto recs = h.flag_records();
  const json::object* undo_outcome = nullptr;
  const json::object* undo_intent = nullptr;
  for (const auto& [kind, d] : recs)
    if (d.at("action") == "undo_flag") (kind == "action_intent" ? undo_intent : undo_outcome) = &d;
  ASSERT_NE(undo_intent, nullptr);
  ASSERT_NE(undo_outcome, nullptr);
  EXPECT_TRUE(undo_intent->contains("expected_state")) << "the intent says what the undo expects to find";
  ASSERT_TRUE(undo_outcome->contains("conflict")) << json::serialize(*undo_outcome);
  EXPECT_EQ(undo_outcome->at("conflict"), true);
  EXPECT_EQ(undo_outcome->at("ok"), false);
  EXPECT_EQ(undo_outcome->at("changed"), false);
  EXPECT_EQ(undo_outcome->at("found_state").at("defaultVariant"), "off");
  EXPECT_EQ(undo_outcome->at("expected_state").at("defaultVariant"), "on");
  EXPECT_TRUE(undo_outcome->at("expected_state").as_object().contains("targeting"));
}

TEST(VerifyFlagCas, UndoRestoresWhenNobodyElseTouchedTheFlag) {
  Harness h;
  VerifyReport r = h.run();
  EXPECT_EQ(r.policies[0].state, "mitigated");
  EXPECT_EQ(json::value(h.flag()), json::parse(kFlags).at("flags").at("connect-framework"));
  for (const auto& [kind, d] : h.flag_records())
    if (kind == "action_outcome" && d.at("action") == "undo_flag") {
      EXPECT_EQ(d.at("ok"), true);
      EXPECT_EQ(d.at("changed"), true);
      EXPECT_FALSE(d.contains("conflict"));
    }
}

TEST(VerifyFlagCas, AFlipWhoseDirectoryFsyncFailedIsJournaledWithItsStateAndUndone) {
  Harness h;
  fs::testing::set_fsync_hooks({.directory = [](int) { errno = EIO; return -1; }});
  VerifyReport r = h.run();
  fs::testing::set_fsync_hooks({});
  EXPECT_EQ(r.policies[0].state, "mitigated");
  // The flip reached the file: journaled as applied, with its state, so the
  // ladder's undo (and a later run's reconciliation) can take it back.
  EXPECT_EQ(json::value(h.flag()), json::parse(kFlags).at("flags").at("connect-framework"))
      << "the flip stayed in the file with nobody tracking it";
  bool flip_seen = false;
  for (const auto& [kind, d] : h.flag_records()) {
    if (kind != "action_outcome") continue;
    EXPECT_EQ(d.at("ok"), true) << json::serialize(d);
    EXPECT_EQ(d.at("changed"), true) << json::serialize(d);
    EXPECT_NE(std::string(d.at("detail").as_string()).find("may not survive a power loss"), std::string::npos)
        << json::serialize(d);
    if (d.at("action") == "flag") {
      flip_seen = true;
      ASSERT_TRUE(d.contains("new_state")) << json::serialize(d);
      EXPECT_TRUE(d.at("new_state").as_object().contains("targeting"));
    }
  }
  EXPECT_TRUE(flip_seen);
}

TEST(VerifyFlagCas, AFlipWhoseRecordedStateWentStaleIsJournaledAndRetried) {
  Harness h;
  // Between the intent and the write, someone changes the flag's metadata.
  h.provider->before_apply = [&] { edit_by_hand(h.flags, "metadata", json::object{{"owner", "someone-else"}}); };
  h.cfg.policies[0].actions.pop_back();  // no rollback: the flip stays (nothing to undo it for)
  VerifyReport r = h.run();
  ASSERT_FALSE(r.policies[0].actions.empty());
  EXPECT_EQ(r.policies[0].actions[0].outcome, "applied");

  auto recs = h.flag_records();
  ASSERT_GE(recs.size(), 4u);
  EXPECT_EQ(recs[0].first, "action_intent");
  EXPECT_FALSE(recs[0].second.at("previous_state").as_object().contains("metadata"));
  EXPECT_TRUE(recs[0].second.at("intended_state").as_object().contains("targeting"));
  EXPECT_EQ(recs[1].first, "action_outcome");
  ASSERT_TRUE(recs[1].second.contains("conflict")) << json::serialize(recs[1].second);
  EXPECT_EQ(recs[1].second.at("ok"), false);
  EXPECT_EQ(recs[1].second.at("found_state").at("metadata").at("owner"), "someone-else");
  EXPECT_EQ(recs[2].first, "action_intent");
  EXPECT_EQ(recs[2].second.at("attempt"), 2);
  EXPECT_EQ(recs[2].second.at("previous_state").at("metadata").at("owner"), "someone-else");
  EXPECT_EQ(recs[3].first, "action_outcome");
  EXPECT_EQ(recs[3].second.at("ok"), true);
  EXPECT_EQ(recs[3].second.at("changed"), true);
  // Both changes are in the file: theirs and our rule.
  EXPECT_EQ(h.flag().at("metadata").at("owner"), "someone-else");
  EXPECT_TRUE(h.flag().contains("targeting"));
}

}  // namespace
}  // namespace dg
