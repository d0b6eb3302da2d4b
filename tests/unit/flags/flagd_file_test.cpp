// flagd file writer: atomic replace, other flags and unknown fields intact,
// segment flips as targeting rules, idempotence, undo.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>

#include "flags/flagd_file.h"
#include "flags/segment.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

const char* kFlags = R"({
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "connect-framework": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
                          "metadata": {"owner": "platform"}, "x-unknown": {"keep": [1, 2.5, "three"]}},
    "dark-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                  "targeting": {"if": [{"in": [{"var": "targetingKey"}, ["globex"]]}, "on", null]}},
    "legacy": {"state": "DISABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}
  },
  "$evaluators": {"zero": {"==": [{"var": "pluginCount"}, 0]}},
  "metadata": {"flagSetId": "wiki"}
})";

struct Fixture : ::testing::Test {
  test::TempDir dir;
  std::string path = dir.write("flags.json", kFlags);
  std::unique_ptr<FlagProvider> provider = *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{path}});
  json::value doc() { return json::parse(test::slurp(path)); }
  FlagChange segment_change(const std::string& expr = "pluginCount == 0") {
    return FlagChange{"connect-framework", "off", expr, *compile_segment(expr)};
  }
};

TEST_F(Fixture, SegmentFlipAddsATargetingRuleAndKeepsEverythingElse) {
  json::value before = doc();
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  json::value after = doc();
  const auto& flag = after.at("flags").at("connect-framework");
  EXPECT_EQ(json::serialize(flag.at("targeting")), R"({"if":[{"and":[{"!==":[{"var":"pluginCount"},null]},{"===":[{"var":"pluginCount"},0]}]},"off",null]})");
  EXPECT_EQ(flag.at("defaultVariant"), "on") << "everyone outside the segment keeps the default";
  EXPECT_EQ(flag.at("x-unknown"), before.at("flags").at("connect-framework").at("x-unknown"));
  EXPECT_EQ(flag.at("metadata"), before.at("flags").at("connect-framework").at("metadata"));
  EXPECT_EQ(after.at("flags").at("dark-mode"), before.at("flags").at("dark-mode"));
  EXPECT_EQ(after.at("flags").at("legacy"), before.at("flags").at("legacy"));
  EXPECT_EQ(after.at("$evaluators"), before.at("$evaluators"));
  EXPECT_EQ(after.at("metadata"), before.at("metadata"));
  EXPECT_EQ(after.at("$schema"), before.at("$schema"));
  // The previous state is reported for undo.
  EXPECT_EQ(json::parse(r->previous.state_json), before.at("flags").at("connect-framework"));
}

TEST_F(Fixture, ApplyingTwiceChangesNothingTheSecondTime) {
  ASSERT_TRUE(provider->apply(segment_change()));
  struct stat s1 {};
  ::stat(path.c_str(), &s1);
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->changed);
  struct stat s2 {};
  ::stat(path.c_str(), &s2);
  EXPECT_EQ(s1.st_ino, s2.st_ino) << "no rewrite when already in the desired state";
}

TEST_F(Fixture, ExistingTargetingStaysAsTheFallback) {
  auto r = provider->apply(FlagChange{"dark-mode", "off", "pluginCount == 0", *compile_segment("pluginCount == 0")});
  ASSERT_TRUE(r);
  json::value after = doc();
  const auto& rule = after.at("flags").at("dark-mode").at("targeting").at("if").as_array();
  ASSERT_EQ(rule.size(), 3u);
  EXPECT_EQ(rule[1], "off");
  EXPECT_EQ(json::serialize(rule[2]), R"({"if":[{"in":[{"var":"targetingKey"},["globex"]]},"on",null]})");
}

TEST_F(Fixture, WholeFlipSetsTheDefaultAndDropsOverridingRules) {
  auto r = provider->apply(FlagChange{"dark-mode", "on", "", ""});
  ASSERT_TRUE(r);
  json::value after = doc();
  const auto& flag = after.at("flags").at("dark-mode").as_object();
  EXPECT_EQ(flag.at("defaultVariant"), "on");
  EXPECT_FALSE(flag.contains("targeting"));
}

TEST_F(Fixture, ReplaceIsAtomicWithANewInodeNewerMtimeAndNoTempFilesLeft) {
  struct stat before {};
  ::stat(path.c_str(), &before);
  ::chmod(path.c_str(), 0640);
  ASSERT_TRUE(provider->apply(segment_change()));
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino) << "rename over, never rewrite in place";
  EXPECT_EQ(after.st_mode & 0777, 0640u) << "mode kept";
  auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
  EXPECT_GT(ns(after.st_mtim), ns(before.st_mtim));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(Fixture, PreviewSaysWhatWouldBeWrittenAndWritesNothing) {
  std::string before = test::slurp(path);
  auto r = provider->preview(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_NE(r->current.state_json.find("targeting"), std::string::npos);
  EXPECT_EQ(r->previous.state_json.find("targeting"), std::string::npos);
  EXPECT_EQ(test::slurp(path), before);
}

TEST_F(Fixture, RestoreUndoesTheChange) {
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r);
  auto back = provider->restore(r->previous);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->changed);
  EXPECT_EQ(doc(), json::parse(kFlags));
}

TEST_F(Fixture, ErrorsLeaveTheFileUntouched) {
  std::string original = test::slurp(path);
  auto missing = provider->apply(FlagChange{"no-such-flag", "off", "", ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("connect-framework"), std::string::npos) << "lists the flags there";
  auto bad_variant = provider->apply(FlagChange{"connect-framework", "disabled", "", ""});
  ASSERT_FALSE(bad_variant);
  EXPECT_NE(bad_variant.error().message.find("no variant"), std::string::npos);
  auto disabled = provider->apply(FlagChange{"legacy", "b", "", ""});
  ASSERT_FALSE(disabled);
  EXPECT_EQ(test::slurp(path), original);

  dir.write("flags.json", "{ not json");
  auto invalid = provider->apply(segment_change());
  ASSERT_FALSE(invalid);
  EXPECT_NE(invalid.error().message.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(test::slurp(path), "{ not json");
}

TEST(Segment, CompilesToStrictJsonLogicThatRequiresTheAttribute) {
  auto guard = [](const std::string& var, const std::string& cmp) {
    return R"({"and":[{"!==":[{"var":")" + var + R"("},null]},)" + cmp + "]}";
  };
  EXPECT_EQ(*compile_segment("pluginCount == 0"), guard("pluginCount", R"({"===":[{"var":"pluginCount"},0]})"));
  EXPECT_EQ(*compile_segment("plan in ['free', \"trial\"]"),
            guard("plan", R"({"in":[{"var":"plan"},["free","trial"]]})"));
  EXPECT_EQ(*compile_segment("pluginCount == 0 and plan != 'enterprise'"),
            "{\"and\":[" + guard("pluginCount", R"({"===":[{"var":"pluginCount"},0]})") + "," +
                guard("plan", R"({"!==":[{"var":"plan"},"enterprise"]})") + "]}");
  EXPECT_EQ(*compile_segment("a >= 1.5 || b < -2"),
            "{\"or\":[" + guard("a", R"({">=":[{"var":"a"},1.5E0]})") + "," + guard("b", R"({"<":[{"var":"b"},-2]})") +
                "]}");
  EXPECT_EQ(*compile_segment("beta == true"), guard("beta", R"({"===":[{"var":"beta"},true]})"));
}

TEST(Segment, RejectsWithAColumn) {
  for (const char* bad : {"", "== 0", "pluginCount", "pluginCount = 0", "a == 1 and b == 2 or c == 3", "a in [1,",
                          "a == 'open", "a == 0x10", "3 == a"}) {
    auto r = compile_segment(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find("column"), std::string::npos) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace dg
