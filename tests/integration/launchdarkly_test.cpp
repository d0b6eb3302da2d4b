// The launchdarkly flag provider against the local contract server (which
// checks every request against LaunchDarkly's semantic-patch contract and
// applies it to its own flag): a kill switch, a segment rule placed first and
// never added twice, restore, a conflict left alone, 409 and 429 retried.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "flags/launchdarkly/launchdarkly.h"
#include "flags/segment.h"
#include "tests/support/contract_server.h"

namespace dg::test {
namespace {

namespace json = boost::json;
const char* kToken = "api-ld-T0ken-77aa99";

struct Ld {
  ContractServer server{{std::string("ld_token=") + kToken}};
  std::unique_ptr<FlagProvider> provider;
  Ld() {
    json::object flag{
        {"key", "connect-framework"},
        {"variations", json::array{json::object{{"_id", "v-on"}, {"value", true}},
                                   json::object{{"_id", "v-off"}, {"value", false}}}},
        {"environments",
         {{"production",
           {{"on", true},
            {"offVariation", 1},
            {"version", 1},
            {"rules", json::array{json::object{
                          {"_id", "r-beta"},
                          {"description", "beta testers"},
                          {"variation", 0},
                          {"clauses", json::array{json::object{{"contextKind", "user"}, {"attribute", "beta"},
                                                               {"op", "in"}, {"negate", false},
                                                               {"values", json::array{true}}}}}}}}}}}}};
    server.control("ld_flag", json::object{{"key", "wiki/connect-framework"}, {"flag", flag}});
    LaunchDarklySpec s;
    s.api_token = kToken;
    s.base_url = server.url();
    s.project = "wiki";
    s.environment = "production";
    s.retry = RetryPolicy{.max_attempts = 4, .backoff = Duration{20}};
    s.timeout = Duration{2000};
    auto p = builtin_flag_providers().make(FlagProviderSpec{.name = "ld", .type = "launchdarkly", .kind = s});
    if (p) provider = std::move(*p);
  }
  json::object env() {
    return server.state()["ld"].as_object()["wiki/connect-framework"].as_object()["environments"].as_object()["production"].as_object();
  }
  int patches() {
    auto st = server.state();
    return st.contains("ld_patches") ? static_cast<int>(st["ld_patches"].as_int64()) : 0;
  }
  void expect_all_accepted() {
    for (const auto& r : server.requests()) {
      const auto& o = r.as_object();
      if (o.contains("fault")) continue;
      EXPECT_TRUE(o.at("accepted") == json::value(true)) << string_at(o, "path") << ": " << string_at(o, "reason");
    }
  }
};

TEST(LaunchDarkly, KillSwitchTurnsTheFlagOffOnceAndRestoreTurnsItBackOn) {
  Ld ld;
  ASSERT_TRUE(ld.server.ok() && ld.provider);
  auto before = ld.provider->read("connect-framework");
  ASSERT_TRUE(before) << before.error().message;
  auto r = ld.provider->apply({.flag = "connect-framework", .variant = "off"}, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(ld.env()["on"], json::value(false));
  auto again = ld.provider->apply({.flag = "connect-framework", .variant = "off"}, r->current);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(ld.patches(), 1) << "a retry sends nothing";
  auto back = ld.provider->restore(*before, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  EXPECT_EQ(ld.env()["on"], json::value(true));
  EXPECT_TRUE(same_state(back->current, *before));
  ld.expect_all_accepted();
}

TEST(LaunchDarkly, SegmentRuleGoesFirstServesOffAndIsNeverAddedTwice) {
  Ld ld;
  ASSERT_TRUE(ld.server.ok() && ld.provider);
  auto logic = compile_segment("plan in [\"free\", \"trial\"] and pluginCount == 0");
  ASSERT_TRUE(logic);
  FlagChange c{.flag = "connect-framework", .variant = "off", .segment = "free plans without plugins",
               .segment_jsonlogic = *logic};
  auto before = ld.provider->read("connect-framework");
  ASSERT_TRUE(before);
  auto r = ld.provider->apply(c, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  auto rules = ld.env()["rules"].as_array();
  ASSERT_EQ(rules.size(), 2u);
  const auto& ours = rules[0].as_object();
  EXPECT_EQ(string_at(ours, "description").rfind("deployguard: ", 0), 0u);
  EXPECT_EQ(ours.at("variation"), json::value(1)) << "the off variation";
  const auto& clauses = ours.at("clauses").as_array();
  ASSERT_EQ(clauses.size(), 2u);
  EXPECT_EQ(string_at(clauses[0].as_object(), "attribute"), "plan");
  EXPECT_EQ(clauses[0].as_object().at("values"), (json::array{"free", "trial"}));
  EXPECT_EQ(string_at(clauses[1].as_object(), "attribute"), "pluginCount");
  EXPECT_EQ(ld.env()["on"], json::value(true)) << "everyone else keeps the flag";
  // A retry or a restart applies the same change again: converged by description.
  auto again = ld.provider->apply(c, std::nullopt);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(ld.env()["rules"].as_array().size(), 2u);
  auto back = ld.provider->restore(*before, r->current);
  ASSERT_TRUE(back) << back.error().message;
  rules = ld.env()["rules"].as_array();
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(string_at(rules[0].as_object(), "_id"), "r-beta") << "someone else's rule untouched";
  ld.expect_all_accepted();
}

TEST(LaunchDarkly, AChangeBySomeoneElseIsAConflictNotOverwritten) {
  Ld ld;
  ASSERT_TRUE(ld.server.ok() && ld.provider);
  FlagSnapshot stale{"connect-framework", R"({"on":true,"rules":[]})"};
  auto r = ld.provider->apply({.flag = "connect-framework", .variant = "off"}, stale);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->conflict);
  EXPECT_EQ(ld.patches(), 0);
  EXPECT_EQ(ld.env()["on"], json::value(true));
}

TEST(LaunchDarkly, A409ConcurrentChangeAndA429AreRetried) {
  Ld ld;
  ASSERT_TRUE(ld.server.ok() && ld.provider);
  ld.server.fault("/api/v2/flags/", json::array{json::object{{"status", 409}, {"method", "PATCH"},
                                                             {"body", json::object{{"code", "conflict"}}}},
                                                json::object{{"status", 429}, {"retry_after", "1"}, {"method", "PATCH"}}});
  auto r = ld.provider->apply({.flag = "connect-framework", .variant = "off"}, std::nullopt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(r->detail.find("3 attempt"), std::string::npos) << r->detail;
  EXPECT_EQ(ld.env()["on"], json::value(false));
}

TEST(LaunchDarkly, SegmentsBecomeClausesOrOneRulePerOrTerm) {
  auto one = launchdarkly_clauses(*compile_segment("pluginCount != 0"), "user");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  ASSERT_EQ((*one)[0].size(), 1u);
  EXPECT_EQ((*one)[0][0].as_object().at("negate"), json::value(true));
  auto two = launchdarkly_clauses(*compile_segment("tier == \"free\" or seats < 3"), "org");
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(string_at((*two)[1][0].as_object(), "op"), "lessThan");
  EXPECT_EQ(string_at((*two)[1][0].as_object(), "contextKind"), "org");
}

}  // namespace
}  // namespace dg::test

namespace dg::test {
namespace {

TEST(LaunchDarkly, AnErrorEchoingTheTokenNeverShowsIt) {
  Ld ld;
  ASSERT_TRUE(ld.server.ok() && ld.provider);
  ld.server.fault("/api/v2/flags/", json::array{json::object{{"status", 401}, {"body", std::string("bad token ") + kToken}}});
  auto r = ld.provider->read("connect-framework");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("401"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("[REDACTED]"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(kToken), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace dg::test
