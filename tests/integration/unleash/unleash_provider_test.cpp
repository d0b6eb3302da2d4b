// The unleash provider against a real unleash-server 7.5.1 on PostgreSQL:
// kill switch, segment kill (one term, a conjunction), idempotent re-apply
// and a restart's re-apply, exact restore, conflicts; every result read back
// through the client API and evaluated as an SDK would.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "agent/core/json_text.h"
#include "flags/flag_provider.h"
#include "flags/segment.h"
#include "flags/unleash/unleash_provider.h"
#include "tests/integration/unleash/sdk_eval.h"
#include "tests/integration/unleash/unleash_server.h"
#include "tests/support/http_server.h"

namespace dg {
namespace {

namespace json = boost::json;
using test::Context;
using test::UnleashServer;

class UnleashProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (UnleashServer::url.empty()) GTEST_SKIP() << UnleashServer::skip_reason;
    static std::atomic<int> n{0};
    flag_ = "dg-flag-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    auto r = UnleashServer::admin("POST", "/api/admin/projects/default/features",
                                  json::serialize(json::object{{"name", flag_}, {"type", "kill-switch"}}));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string env_path() const { return "/api/admin/projects/default/features/" + flag_ + "/environments/development"; }

  std::string add_strategy(const json::array& constraints, const std::string& title = "") {
    json::object s{{"name", "flexibleRollout"},
                   {"title", title},
                   {"parameters", json::object{{"rollout", "100"}, {"stickiness", "default"}, {"groupId", flag_}}},
                   {"constraints", constraints}};
    auto r = UnleashServer::admin("POST", env_path() + "/strategies", json::serialize(s));
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(parse_json(r.body)->as_object().at("id").as_string());
  }
  void enable() { ASSERT_EQ(UnleashServer::admin("POST", env_path() + "/on").status, 200); }

  std::unique_ptr<FlagProvider> provider() {
    UnleashSpec u;
    u.url = UnleashServer::url;
    u.token = test::kAdminToken;
    u.environment = "development";
    FlagProviderSpec spec{.name = "unleash", .type = "unleash", .kind = u};
    auto p = builtin_flag_providers().make(spec);
    EXPECT_TRUE(p.has_value());
    return std::move(*p);
  }

  FlagChange segment_kill(const std::string& segment) {
    return FlagChange{flag_, "off", segment, compile_segment(segment).value()};
  }

  size_t strategy_count() {
    auto r = UnleashServer::admin("GET", env_path());
    return parse_json(r.body)->as_object().at("strategies").as_array().size();
  }

  // What an SDK decides for each context, once the client API shows `want`
  // (it may serve a cached copy for a moment after a write).
  void expect_sdk(const std::vector<std::pair<Context, bool>>& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    std::string got;
    for (;;) {
      json::object f = UnleashServer::client_feature(flag_);
      bool all = true;
      got.clear();
      for (const auto& [ctx, on] : want) {
        bool is = test::sdk_enabled(f, ctx);
        all = all && is == on;
        std::string c;
        for (const auto& [k, v] : ctx) c += k + "=" + v + " ";
        got += "{" + c + "} -> " + (is ? "on" : "off") + (is == on ? "" : " (WRONG)") + "\n";
      }
      if (all) return;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the client API does not show the expected decisions:\n"
                      << got << json::serialize(f);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  std::string flag_;
};

TEST_F(UnleashProviderTest, KillSwitchDisablesTheEnvironmentAndRestoresIt) {
  add_strategy({});
  enable();
  expect_sdk({{{}, true}, {{{"userId", "42"}}, true}});
  auto p = provider();
  FlagChange change{flag_, "off", "", ""};
  auto before = p->preview(change);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_TRUE(before->changed);

  auto r = p->apply(change, before->previous);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed) << r->detail;
  EXPECT_FALSE(r->conflict);
  EXPECT_TRUE(same_state(r->current, before->current)) << r->current.state_json << "\n" << before->current.state_json;
  expect_sdk({{{}, false}, {{{"userId", "42"}}, false}});

  auto again = p->apply(change, r->current);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->changed) << again->detail;
  EXPECT_FALSE(again->conflict);

  auto back = p->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  EXPECT_TRUE(same_state(back->current, before->previous)) << back->current.state_json;
  expect_sdk({{{}, true}});
}

TEST_F(UnleashProviderTest, SegmentKillExcludesOneTermFromEveryStrategy) {
  std::string plans = add_strategy(
      json::array{json::object{{"contextName", "plan"}, {"operator", "IN"}, {"values", json::array{"free", "pro"}}}},
      "paying and free plans");
  std::string everyone = add_strategy({});
  enable();
  auto p = provider();
  FlagChange change = segment_kill("pluginCount == 0");
  auto before = p->read(flag_);
  ASSERT_TRUE(before) << before.error().message;

  auto r = p->apply(change, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed) << r->detail;
  EXPECT_EQ(strategy_count(), 2u);  // one term: the strategies are edited in place
  expect_sdk({
      {{{"plan", "free"}, {"pluginCount", "0"}}, false},
      {{{"plan", "free"}, {"pluginCount", "3"}}, true},
      {{{"plan", "enterprise"}, {"pluginCount", "0"}}, false},
      {{{"plan", "enterprise"}}, true},  // without the attribute: not in the segment
      {{}, true},
  });

  // A retry, and a restarted agent (a new provider) re-applying: nothing added twice.
  auto again = p->apply(change, r->current);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->changed) << again->detail;
  auto restarted = provider()->apply(change, r->current);
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_FALSE(restarted->changed) << restarted->detail;
  EXPECT_EQ(strategy_count(), 2u);
  auto snap = p->read(flag_);
  EXPECT_TRUE(same_state(*snap, r->current)) << snap->state_json;

  auto back = p->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  auto after = p->read(flag_);
  EXPECT_TRUE(same_state(*after, *before)) << after->state_json << "\n" << before->state_json;
  // Exactly what was there: the same strategies (ids), titles and constraints.
  auto env = parse_json(UnleashServer::admin("GET", env_path()).body)->as_object();
  std::vector<std::string> ids;
  for (const auto& s : env.at("strategies").as_array()) ids.emplace_back(s.as_object().at("id").as_string());
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> want{plans, everyone};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  expect_sdk({{{{"plan", "free"}, {"pluginCount", "0"}}, true}, {{{"plan", "enterprise"}, {"pluginCount", "0"}}, true}});
}

TEST_F(UnleashProviderTest, ConjunctionSplitsEveryStrategyAndConvergesAfterAPartialWrite) {
  add_strategy({});
  add_strategy(json::array{json::object{{"contextName", "country"}, {"operator", "IN"}, {"values", json::array{"NO"}}}},
               "norway");
  enable();
  auto p = provider();
  FlagChange change = segment_kill(R"(plan in ["free", "trial"] and pluginCount == 0)");
  auto before = p->read(flag_);
  ASSERT_TRUE(before);
  auto preview = p->preview(change);
  ASSERT_TRUE(preview) << preview.error().message;

  auto r = p->apply(change, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed) << r->detail;
  EXPECT_EQ(strategy_count(), 4u);  // each strategy split in two: one per negated term
  // The preview said exactly what a read shows afterwards (what reconcile compares).
  EXPECT_EQ(*parse_json(preview->current.state_json), *parse_json(r->current.state_json));
  expect_sdk({
      {{{"plan", "free"}, {"pluginCount", "0"}}, false},
      {{{"plan", "trial"}, {"pluginCount", "0"}, {"country", "NO"}}, false},
      {{{"plan", "free"}, {"pluginCount", "1"}}, true},
      {{{"plan", "pro"}, {"pluginCount", "0"}}, true},
      {{{"pluginCount", "0"}}, true},
      {{}, true},
  });

  auto again = p->apply(change, r->current);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->changed) << again->detail;
  EXPECT_EQ(strategy_count(), 4u);

  // A run that died half-way: one of the copies never made it. Re-applying
  // with the journaled state converges instead of calling it a conflict.
  auto env = parse_json(UnleashServer::admin("GET", env_path()).body)->as_object();
  std::string copy_id;
  for (const auto& s : env.at("strategies").as_array())
    if (std::string(s.as_object().at("title").as_string()).find(" 2/2 of ") != std::string::npos)
      copy_id = std::string(s.as_object().at("id").as_string());
  ASSERT_FALSE(copy_id.empty());
  ASSERT_EQ(UnleashServer::admin("DELETE", env_path() + "/strategies/" + copy_id).status, 200);
  EXPECT_EQ(strategy_count(), 3u);
  auto resumed = provider()->apply(change, *before);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_FALSE(resumed->conflict) << resumed->detail;
  EXPECT_TRUE(resumed->changed);
  EXPECT_EQ(strategy_count(), 4u);
  EXPECT_TRUE(same_state(resumed->current, r->current)) << resumed->current.state_json;

  // An undo that died half-way: one original already restored (PATCHed
  // back), the copies still there. Restoring again finishes it.
  auto env2 = parse_json(UnleashServer::admin("GET", env_path()).body)->as_object();
  int undone = 0;
  for (const auto& s : env2.at("strategies").as_array()) {
    const auto& st = s.as_object();
    std::string title(st.at("title").as_string());
    if (title.find(" 1/2 of ") == std::string::npos || title.find("norway") == std::string::npos) continue;
    json::array cs = st.at("constraints").as_array();
    cs.pop_back();
    auto undo_one = UnleashServer::admin(
        "PATCH", env_path() + "/strategies/" + std::string(st.at("id").as_string()),
        json::serialize(json::array{json::object{{"op", "replace"}, {"path", "/constraints"}, {"value", cs}},
                                    json::object{{"op", "replace"}, {"path", "/title"}, {"value", "norway"}}}));
    ASSERT_EQ(undo_one.status, 200) << undo_one.body;
    ++undone;
  }
  ASSERT_EQ(undone, 1);
  auto back = p->restore(*before, resumed->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->conflict) << back->detail;
  EXPECT_EQ(strategy_count(), 2u);
  auto after = p->read(flag_);
  EXPECT_TRUE(same_state(*after, *before)) << after->state_json << "\n" << before->state_json;
  expect_sdk({{{{"plan", "free"}, {"pluginCount", "0"}}, true}});
}

TEST_F(UnleashProviderTest, SomeoneElsesChangeIsAConflictAndIsKept) {
  std::string id = add_strategy({});
  enable();
  auto p = provider();
  FlagChange change = segment_kill("pluginCount == 0");
  auto stale = p->read(flag_);
  ASSERT_TRUE(stale);
  // Someone narrows the strategy after our read.
  auto edit = UnleashServer::admin(
      "PUT", env_path() + "/strategies/" + id,
      json::serialize(json::object{
          {"name", "flexibleRollout"},
          {"parameters", json::object{{"rollout", "100"}, {"stickiness", "default"}, {"groupId", flag_}}},
          {"constraints", json::array{json::object{{"contextName", "plan"}, {"operator", "IN"}, {"values", json::array{"pro"}}}}}}));
  ASSERT_EQ(edit.status, 200) << edit.body;
  auto theirs = p->read(flag_);

  auto r = p->apply(change, *stale);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->conflict);
  EXPECT_FALSE(r->changed);
  EXPECT_NE(r->detail.find("someone else"), std::string::npos) << r->detail;
  EXPECT_TRUE(same_state(*p->read(flag_), *theirs));

  // The same on undo: we flipped, then someone edited; restore keeps their edit.
  auto ours = p->apply(change, *theirs);
  ASSERT_TRUE(ours && ours->changed) << (ours ? ours->detail : ours.error().message);
  ASSERT_EQ(UnleashServer::admin("POST", env_path() + "/off").status, 200);
  auto later = p->read(flag_);
  auto undo = p->restore(ours->previous, ours->current);
  ASSERT_TRUE(undo) << undo.error().message;
  EXPECT_TRUE(undo->conflict);
  EXPECT_TRUE(same_state(*p->read(flag_), *later));
}

// Someone edits a strategy between our read and our JSON-Patch: the patch's
// `test` fails, and what we had already written (a copy, an edited sibling)
// is withdrawn, so only their change remains.
TEST_F(UnleashProviderTest, ARaceLostMidWayIsWithdrawnAndIsAConflict) {
  add_strategy({}, "first");
  add_strategy({}, "second");
  enable();
  std::atomic<int> patches{0};
  std::string raced;
  // A proxy in front of Unleash that lets the other writer in just before our second PATCH.
  test::HttpServer proxy([&](const test::Request& req) {
    if (req.method == "PATCH" && ++patches == 2) {
      raced = req.target.substr(req.target.rfind('/') + 1);
      auto edit = UnleashServer::admin(
          "PUT", env_path() + "/strategies/" + raced,
          json::serialize(json::object{
              {"name", "flexibleRollout"},
              {"title", "edited by someone"},
              {"parameters", json::object{{"rollout", "100"}, {"stickiness", "default"}, {"groupId", flag_}}},
              {"constraints", json::array{json::object{{"contextName", "plan"}, {"operator", "IN"}, {"values", json::array{"pro"}}}}}}));
      EXPECT_EQ(edit.status, 200) << edit.body;
    }
    HttpRequest fwd{.method = req.method, .url = UnleashServer::url + req.target,
                    .headers = {{"Authorization", req.header("authorization")}}, .body = req.body};
    if (!req.body.empty()) fwd.headers.emplace_back("Content-Type", "application/json");
    auto r = http_perform(fwd);
    if (!r) return test::Response{502, r.error().message};
    return test::Response{r->status, r->body, {{"Content-Type", "application/json"}}};
  });
  UnleashSpec u;
  u.url = "http://127.0.0.1:" + std::to_string(proxy.port());
  u.token = test::kAdminToken;
  u.environment = "development";
  auto p = builtin_flag_providers().make(FlagProviderSpec{.name = "u", .type = "unleash", .kind = u});
  ASSERT_TRUE(p);
  FlagChange change = segment_kill("plan in [\"free\"] and pluginCount == 0");
  auto before = (*p)->read(flag_);
  auto r = (*p)->apply(change, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->conflict) << r->detail;
  EXPECT_FALSE(r->changed) << r->detail;
  EXPECT_NE(r->detail.find("withdrawn"), std::string::npos) << r->detail;
  ASSERT_FALSE(raced.empty());
  // Theirs is all that is left: two strategies, no marker, their constraint in place.
  auto env = parse_json(UnleashServer::admin("GET", env_path()).body)->as_object();
  const auto& strategies = env.at("strategies").as_array();
  EXPECT_EQ(strategies.size(), 2u);
  for (const auto& sv : strategies) {
    const auto& st = sv.as_object();
    EXPECT_EQ(std::string(st.at("title").as_string()).find("deployguard"), std::string::npos) << json::serialize(st);
    if (st.at("id").as_string() == raced) EXPECT_EQ(st.at("title"), "edited by someone");
    else EXPECT_TRUE(st.at("constraints").as_array().empty()) << json::serialize(st);
  }
  EXPECT_TRUE(same_state(r->current, *(*p)->read(flag_)));
}

TEST_F(UnleashProviderTest, ReadsAMissingFlagAsNullAndRefusesVariants) {
  auto p = provider();
  auto missing = p->read("no-such-flag-" + flag_);
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(missing->state_json, "null");
  auto r = p->apply(FlagChange{flag_, "on", "", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("only turns them off"), std::string::npos) << r.error().message;
  auto ne = p->apply(segment_kill("plan != \"free\""));
  ASSERT_FALSE(ne);
  EXPECT_NE(ne.error().message.find("!="), std::string::npos) << ne.error().message;
}

TEST_F(UnleashProviderTest, AWrongTokenIsAnErrorThatDoesNotShowIt) {
  UnleashSpec u;
  u.url = UnleashServer::url;
  u.token = "*:*.not-the-right-token";
  u.environment = "development";
  auto p = builtin_flag_providers().make(FlagProviderSpec{.name = "u", .type = "unleash", .kind = u});
  ASSERT_TRUE(p);
  auto r = (*p)->read(flag_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("HTTP 401"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("not-the-right-token"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace dg

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new dg::test::UnleashServer);
  return RUN_ALL_TESTS();
}
