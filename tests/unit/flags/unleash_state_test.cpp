// The unleash provider's pure half: a segment's exclusion as constraint
// groups, and kill / unkill as functions of a state (no server).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "flags/segment.h"
#include "flags/unleash/unleash_state.h"

namespace dg::unleash {
namespace {

namespace json = boost::json;

std::vector<json::array> groups(const std::string& expr) {
  auto parsed = parse_segment(expr);
  EXPECT_TRUE(parsed) << expr;
  auto g = exclusion_groups(*parsed);
  EXPECT_TRUE(g) << (g ? "" : g.error().message);
  return g ? *g : std::vector<json::array>{};
}

json::value state() {
  return normalize_env(*parse_json(R"({"enabled": true, "strategies": [
    {"id": "b-2", "name": "default", "title": "everyone", "sortOrder": 1, "parameters": {},
     "constraints": [], "variants": [], "segments": []},
    {"id": "a-1", "name": "flexibleRollout", "title": "", "sortOrder": 0,
     "parameters": {"rollout": "100", "stickiness": "default", "groupId": "f"},
     "constraints": [{"contextName": "country", "operator": "IN", "values": ["NO"]}]}]})"));
}

TEST(UnleashSegment, TermsBecomeInvertedConstraints) {
  auto g = groups("pluginCount == 0");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(json::serialize(g[0]),
            R"([{"contextName":"pluginCount","operator":"NUM_EQ","inverted":true,"caseInsensitive":false,"value":"0"}])");
  g = groups(R"(plan in ["free", "trial"])");
  EXPECT_EQ(json::serialize(g[0]),
            R"([{"contextName":"plan","operator":"IN","inverted":true,"caseInsensitive":false,"values":["free","trial"]}])");
  g = groups("plan == 'free'");
  EXPECT_EQ(g[0][0].at("operator"), "IN");
  g = groups("version >= 2.5");
  EXPECT_EQ(g[0][0].at("operator"), "NUM_GTE");
  EXPECT_EQ(g[0][0].at("value"), "2.5");
}

TEST(UnleashSegment, AndSplitsOrStacks) {
  auto conj = groups("a == 1 and b == 2 and c == 3");
  ASSERT_EQ(conj.size(), 3u);  // one strategy copy per negated term
  for (const auto& grp : conj) EXPECT_EQ(grp.size(), 1u);
  auto disj = groups("a == 1 or b == 2");
  ASSERT_EQ(disj.size(), 1u);  // not a and not b: both in each strategy
  EXPECT_EQ(disj[0].size(), 2u);
}

TEST(UnleashSegment, RefusesWhatUnleashCannotSayExactly) {
  for (const char* bad : {"plan != 'free'", "a == null", "plan < 'x'"}) {
    auto parsed = parse_segment(bad);
    ASSERT_TRUE(parsed) << bad;
    EXPECT_FALSE(exclusion_groups(*parsed)) << bad;
  }
}

TEST(UnleashState, KillSplitsMarksAndUnkillRestoresExactly) {
  json::value base = state();
  auto g = groups("plan == 'free' and pluginCount == 0");
  std::string tag = segment_tag("plan == 'free' and pluginCount == 0");
  json::value killed = kill_segment(base, g, tag);
  const auto& s = killed.at("strategies").as_array();
  ASSERT_EQ(s.size(), 4u);
  int with_id = 0;
  for (const auto& v : s) {
    const auto& o = v.as_object();
    Marker m = parse_marker(std::string(o.at("title").as_string()));
    EXPECT_EQ(m.tag, tag);
    EXPECT_EQ(m.n, 2);
    with_id += o.contains("id");
    EXPECT_EQ(o.contains("id"), m.k == 1);  // copies get their id from the server
    EXPECT_TRUE(o.at("constraints").as_array().back().at("inverted").as_bool());
  }
  EXPECT_EQ(with_id, 2);
  EXPECT_EQ(parse_marker(std::string(s[0].at("title").as_string())).base_title, "");
  EXPECT_EQ(unkill_segment(killed, g, tag), base);
  // Converged: applying again to the unkilled state gives the same state.
  EXPECT_EQ(kill_segment(unkill_segment(killed, g, tag), g, tag), killed);
  // Another segment's kill stacks and unstacks in order.
  auto g2 = groups("beta == true");
  std::string tag2 = segment_tag("beta == true");
  json::value both = kill_segment(killed, g2, tag2);
  EXPECT_EQ(unkill_segment(both, g2, tag2), killed);
}

TEST(UnleashState, AnEnabledEnvironmentWithoutStrategiesGetsAnEquivalentOne) {
  json::value empty = normalize_env(*parse_json(R"({"enabled": true, "strategies": []})"));
  auto g = groups("pluginCount == 0");
  json::value killed = kill_segment(empty, g, "t");
  ASSERT_EQ(killed.at("strategies").as_array().size(), 1u);
  EXPECT_EQ(killed.at("strategies").as_array()[0].at("parameters").at("rollout"), "100");
  EXPECT_EQ(unkill_segment(killed, g, "t"), empty);
}

TEST(UnleashState, NormalizesWhatTheServerMayOmit) {
  json::value a = normalize_env(*parse_json(R"({"enabled": true, "strategies": [{"id": "x", "name": "default",
    "constraints": [{"contextName": "n", "operator": "NUM_EQ", "value": "0", "values": []}]}]})"));
  json::value b = normalize_env(*parse_json(R"({"enabled": true, "strategies": [{"id": "x", "name": "default",
    "title": null, "disabled": false, "constraints": [{"contextName": "n", "operator": "NUM_EQ", "value": "0",
    "inverted": false, "caseInsensitive": false}], "variants": [], "segments": [], "parameters": {}}]})"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(kill_all(a).at("enabled"), false);
}

TEST(UnleashState, MarkerParsing) {
  Marker m = parse_marker("beta users [deployguard segment-kill 0a1b2c3d 2/3 of 5f0c-11]");
  EXPECT_EQ(m.tag, "0a1b2c3d");
  EXPECT_EQ(m.k, 2);
  EXPECT_EQ(m.n, 3);
  EXPECT_EQ(m.of, "5f0c-11");
  EXPECT_EQ(m.base_title, "beta users");
  EXPECT_EQ(parse_marker("plain title").tag, "");
  EXPECT_EQ(parse_marker("[deployguard segment-kill x 3/2 of y]").tag, "");  // k > n: not ours
}

}  // namespace
}  // namespace dg::unleash
