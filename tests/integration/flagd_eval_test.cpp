// The flagd file written by the flagd-file provider, evaluated by the REAL
// flagd evaluator (@openfeature/flagd-core under node, examples/wiki/flagd-eval.js):
// a flip must do to real users exactly what it says, and touch nothing else.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "flags/flagd_file.h"
#include "agent/core/process.h"
#include "flags/flag_provider.h"
#include "flags/segment.h"
#include "tests/integration/integration_helpers.h"

namespace dg::test {
namespace {

namespace json = boost::json;

const std::string kWiki = DG_SOURCE_DIR "/examples/wiki";
const std::string kEvalScript = kWiki + "/flagd-eval.js";
const std::string kFlagsJson = kWiki + "/flags.json";

const std::string kAcme = R"({"targetingKey":"acme","pluginCount":0})";
const std::string kGlobex = R"({"targetingKey":"globex","pluginCount":3})";
const std::string kUmbrella = R"({"targetingKey":"umbrella","pluginCount":7})";

struct Evaluation {
  json::value value;      // null when missing
  json::value variant;    // null when missing
  std::string error;      // set when the evaluator reported one
  std::string raw;
};

class FlagdEval : public ::testing::Test {
 protected:
  void SetUp() override {
    auto node = run_command(CommandSpec{.argv = {"node", "--version"}, .timeout = Duration{10'000}});
    ASSERT_TRUE(node.has_value() && node->exit_code == 0)
        << "node is required for the flagd evaluation tests but cannot be run ("
        << (node ? "exit " + std::to_string(node->exit_code) + ": " + node->err : node.error().message)
        << "); install Node.js (the test script does this)";
    ASSERT_TRUE(std::filesystem::exists(kWiki + "/node_modules/@openfeature/flagd-core"))
        << "examples/wiki/node_modules/@openfeature/flagd-core is missing; run `npm ci` in " << kWiki
        << " (the test script does this)";
    ASSERT_TRUE(std::filesystem::exists(kFlagsJson)) << kFlagsJson;
    path_ = dir_.file("flags.json");
    std::filesystem::copy_file(kFlagsJson, path_);

    FlagProviderRegistry registry;
    register_builtin_flag_providers(registry);
    auto p = registry.make(FlagProviderSpec{.name = "wiki-flags", .type = "flagd-file", .kind = FlagdFileSpec{path_}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    provider_ = std::move(*p);
  }

  /// Evaluates `flag` for each context with flagd-eval.js; one result per context.
  std::vector<Evaluation> eval(const std::string& flag, const std::vector<std::string>& contexts) {
    CommandSpec spec{.argv = {"node", kEvalScript, path_, flag}, .timeout = Duration{30'000}};
    spec.argv.insert(spec.argv.end(), contexts.begin(), contexts.end());
    auto r = run_command(spec);
    std::vector<Evaluation> out;
    if (!r.has_value()) {
      ADD_FAILURE() << "cannot run node: " << r.error().message;
      return out;
    }
    EXPECT_EQ(r->exit_code, 0) << "flagd-eval failed to load " << path_ << ": " << r->err << "\nfile:\n"
                               << read_text(path_);
    EXPECT_EQ(r->err.find("error"), std::string::npos) << "flagd-eval stderr: " << r->err;
    size_t start = 0;
    for (size_t nl; (nl = r->out.find('\n', start)) != std::string::npos; start = nl + 1) {
      Evaluation e;
      e.raw = r->out.substr(start, nl - start);
      boost::system::error_code ec;
      json::value v = json::parse(e.raw, ec);
      if (ec || !v.is_object()) {
        ADD_FAILURE() << "flagd-eval printed a non-JSON line: " << e.raw;
        continue;
      }
      const auto& o = v.as_object();
      if (const auto* err = o.if_contains("error")) e.error = json::serialize(*err);
      if (const auto* val = o.if_contains("value")) e.value = *val;
      if (const auto* var = o.if_contains("variant")) e.variant = *var;
      out.push_back(std::move(e));
    }
    EXPECT_EQ(out.size(), contexts.size()) << r->out << r->err;
    return out;
  }

  /// value for one context, as "true"/"false" (or a description of what went wrong).
  std::string value_for(const std::string& flag, const std::string& context) {
    auto e = eval(flag, {context});
    if (e.size() != 1) return "<no result>";
    if (!e[0].error.empty()) return "<error " + e[0].error + ">";
    return json::serialize(e[0].value);
  }

  void expect_values(const std::string& flag, const std::map<std::string, bool>& expected) {
    std::vector<std::string> contexts;
    for (const auto& [ctx, v] : expected) contexts.push_back(ctx);
    auto results = eval(flag, contexts);
    ASSERT_EQ(results.size(), contexts.size());
    for (size_t i = 0; i < contexts.size(); ++i) {
      EXPECT_TRUE(results[i].error.empty()) << flag << " for " << contexts[i] << ": " << results[i].raw;
      EXPECT_EQ(results[i].value, json::value(expected.at(contexts[i])))
          << flag << " for " << contexts[i] << ": " << results[i].raw << "\nfile:\n"
          << read_text(path_);
    }
  }

  FlagChange segment_change(const std::string& segment) {
    auto logic = compile_segment(segment);
    EXPECT_TRUE(logic.has_value()) << (logic ? "" : logic.error().message);
    return FlagChange{"connect-framework", "off", segment, logic ? *logic : ""};
  }

  json::object flag_json(const std::string& flag) {
    json::value doc = json::parse(read_text(path_));
    return doc.as_object()["flags"].as_object()[flag].as_object();
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<FlagProvider> provider_;
};

TEST_F(FlagdEval, BaselineBeforeAnyChange) {
  // Guards the meaning of the other cases: before a flip, everyone has the feature.
  expect_values("connect-framework", {{kAcme, true}, {kGlobex, true}});
  expect_values("dark-mode", {{kAcme, false}, {kGlobex, true}});
}

TEST_F(FlagdEval, SegmentFlipTurnsTheFeatureOffOnlyForTheSegment) {
  ASSERT_FALSE(HasFailure());
  std::string dark_mode_before = json::serialize(flag_json("dark-mode"));
  auto out = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_TRUE(out->changed);

  auto results = eval("connect-framework", {kAcme, kGlobex});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].value, json::value(false)) << results[0].raw;
  EXPECT_EQ(results[0].variant, json::value("off")) << results[0].raw;
  EXPECT_EQ(results[1].value, json::value(true)) << results[1].raw;
  EXPECT_EQ(results[1].variant, json::value("on")) << results[1].raw;

  // Other flags are untouched, in the file and in evaluation.
  EXPECT_EQ(json::serialize(flag_json("dark-mode")), dark_mode_before);
  expect_values("dark-mode", {{kAcme, false}, {kGlobex, true}});

  // Unknown fields survive the rewrite.
  json::value doc = json::parse(read_text(path_));
  EXPECT_EQ(doc.as_object()["$schema"], json::value("https://flagd.dev/schema/v0/flags.json"));
  EXPECT_EQ(doc.as_object()["metadata"].as_object()["flagSetId"], json::value("wiki"));
  EXPECT_EQ(flag_json("connect-framework")["metadata"].as_object()["owner"], json::value("platform"));
  EXPECT_EQ(flag_json("connect-framework")["defaultVariant"], json::value("on"));
}

TEST_F(FlagdEval, SegmentDoesNotCatchUsersWithoutTheAttribute) {
  // "pluginCount == 0" limits the flip to users known to have zero plugins. A
  // context without pluginCount is not in that segment and keeps the feature.
  // (JsonLogic's loose == / < treat a missing var (null) like 0 in flagd-core.)
  ASSERT_FALSE(HasFailure());
  const std::string no_attribute = R"({"targetingKey":"initech"})";
  auto out = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, true}, {no_attribute, true}});

  auto restored = provider_->restore(out->previous);
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  out = provider_->apply(segment_change("pluginCount < 1"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, true}, {no_attribute, true}});
}

TEST_F(FlagdEval, ApplyingTheSameSegmentFlipTwiceIsIdempotent) {
  ASSERT_FALSE(HasFailure());
  auto first = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  std::string after_first = read_text(path_);
  auto second = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_FALSE(second->changed);
  EXPECT_EQ(read_text(path_), after_first);
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, true}});
}

TEST_F(FlagdEval, CompoundSegmentFlip) {
  ASSERT_FALSE(HasFailure());
  auto out = provider_->apply(segment_change(R"(plan in ["free", "trial"] and pluginCount == 0)"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  expect_values("connect-framework", {
                                         {R"({"targetingKey":"a","plan":"free","pluginCount":0})", false},
                                         {R"({"targetingKey":"b","plan":"trial","pluginCount":0})", false},
                                         {R"({"targetingKey":"c","plan":"enterprise","pluginCount":0})", true},
                                         {R"({"targetingKey":"d","plan":"free","pluginCount":2})", true},
                                     });
}

TEST_F(FlagdEval, WholeFlipTurnsTheFeatureOffForEveryone) {
  ASSERT_FALSE(HasFailure());
  auto out = provider_->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_TRUE(out->changed);
  auto results = eval("connect-framework", {kAcme, kGlobex, kUmbrella, R"({"targetingKey":"initech"})"});
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) {
    EXPECT_EQ(r.value, json::value(false)) << r.raw;
    EXPECT_EQ(r.variant, json::value("off")) << r.raw;
  }
  expect_values("dark-mode", {{kAcme, false}, {kGlobex, true}});
}

TEST_F(FlagdEval, WholeFlipOverridesExistingTargeting) {
  ASSERT_FALSE(HasFailure());
  // A rule that would turn the feature on for globex must not survive a whole flip.
  json::value doc = json::parse(read_text(path_));
  doc.as_object()["flags"].as_object()["connect-framework"].as_object()["targeting"] =
      json::parse(R"({"if":[{"in":[{"var":"targetingKey"},["globex"]]},"on",null]})");
  write_text(path_, json::serialize(doc));
  auto out = provider_->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_TRUE(out.has_value()) << out.error().message;
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, false}});
}

TEST_F(FlagdEval, SegmentFlipKeepsExistingTargetingAsFallback) {
  ASSERT_FALSE(HasFailure());
  json::value doc = json::parse(read_text(path_));
  doc.as_object()["flags"].as_object()["connect-framework"].as_object()["targeting"] =
      json::parse(R"({"if":[{"in":[{"var":"targetingKey"},["umbrella"]]},"off",null]})");
  write_text(path_, json::serialize(doc));
  // Before: only umbrella is off (its own rule).
  expect_values("connect-framework", {{kAcme, true}, {kGlobex, true}, {kUmbrella, false}});

  auto out = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_TRUE(out->changed);
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, true}, {kUmbrella, false}});
  expect_values("dark-mode", {{kAcme, false}, {kGlobex, true}});
}

TEST_F(FlagdEval, RestoreReturnsEvaluationToTheOriginal) {
  ASSERT_FALSE(HasFailure());
  std::string original_file = read_text(path_);
  auto before = provider_->read("connect-framework");
  ASSERT_TRUE(before.has_value()) << before.error().message;

  auto out = provider_->apply(segment_change("pluginCount == 0"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_EQ(out->previous.state_json, before->state_json);
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, true}});

  auto restored = provider_->restore(out->previous);
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_TRUE(restored->changed);
  expect_values("connect-framework", {{kAcme, true}, {kGlobex, true}});
  expect_values("dark-mode", {{kAcme, false}, {kGlobex, true}});
  auto after = provider_->read("connect-framework");
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(json::parse(after->state_json), json::parse(before->state_json));
  EXPECT_EQ(json::parse(read_text(path_)), json::parse(original_file));

  auto again = provider_->restore(out->previous);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_FALSE(again->changed);
}

TEST_F(FlagdEval, RestoreAfterWholeFlipBringsBackTheTargeting) {
  ASSERT_FALSE(HasFailure());
  json::value doc = json::parse(read_text(path_));
  doc.as_object()["flags"].as_object()["connect-framework"].as_object()["targeting"] =
      json::parse(R"({"if":[{"in":[{"var":"targetingKey"},["umbrella"]]},"off",null]})");
  write_text(path_, json::serialize(doc));

  auto out = provider_->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_TRUE(out.has_value()) << out.error().message;
  expect_values("connect-framework", {{kAcme, false}, {kGlobex, false}, {kUmbrella, false}});

  auto restored = provider_->restore(out->previous);
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  expect_values("connect-framework", {{kAcme, true}, {kGlobex, true}, {kUmbrella, false}});
}

TEST_F(FlagdEval, UnknownVariantIsRejectedAndFileUntouched) {
  ASSERT_FALSE(HasFailure());
  std::string original = read_text(path_);
  auto out = provider_->apply(FlagChange{"connect-framework", "disabled", "", ""});
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().message.find("disabled"), std::string::npos) << out.error().message;
  EXPECT_EQ(read_text(path_), original);
  auto missing = provider_->apply(FlagChange{"no-such-flag", "off", "", ""});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(read_text(path_), original);
}

}  // namespace
}  // namespace dg::test
