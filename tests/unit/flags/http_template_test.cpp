// The http flag provider's templates: each value escaped for where it lands.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "flags/http/template.h"

namespace dg::flagtpl {
namespace {

const Values kValues = {{"flag", "connect framework/α", false},
                        {"variant", "off", false},
                        {"segment", R"(plan in ["free"] and note == 'a\b')", false},
                        {"segment_jsonlogic", R"({"in":[{"var":"plan"},["free"]]})", true},
                        {"empty_rule", "", true}};

TEST(HttpTemplate, JsonBodiesEscapeStringsAndEmbedJson) {
  auto r = render(R"({"s": "{{segment}}", "bare": {{segment}}, "rule": {{segment_jsonlogic}},
                      "rule_text": "x {{segment_jsonlogic}} y", "none": {{empty_rule}}, "esc": "\"{{variant}}\""})",
                  kValues, Mode::kJson);
  ASSERT_TRUE(r) << r.error().message;
  auto doc = parse_json(*r);
  ASSERT_TRUE(doc) << *r;
  const auto& o = doc->as_object();
  EXPECT_EQ(o.at("s"), R"(plan in ["free"] and note == 'a\b')");
  EXPECT_EQ(o.at("bare"), o.at("s"));
  EXPECT_EQ(o.at("rule"), *parse_json(R"({"in":[{"var":"plan"},["free"]]})"));
  EXPECT_EQ(o.at("rule_text"), R"(x {"in":[{"var":"plan"},["free"]]} y)");
  EXPECT_TRUE(o.at("none").is_null());
  EXPECT_EQ(o.at("esc"), "\"off\"");  // an escaped quote in the template does not end the string
}

TEST(HttpTemplate, UrlsArePercentEncoded) {
  auto r = render("https://flags.example.com/api/{{flag}}?v={{variant}}", kValues, Mode::kUrl);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "https://flags.example.com/api/connect%20framework%2F%CE%B1?v=off");
}

TEST(HttpTemplate, HeadersRefuseLineBreaksAndUnknownNamesAreErrors) {
  EXPECT_FALSE(render("x {{v}}", {{"v", "a\r\nInjected: 1", false}}, Mode::kHeader));
  EXPECT_TRUE(render("x {{v}}", {{"v", "fine", false}}, Mode::kHeader));
  EXPECT_FALSE(render("{{nope}}", kValues, Mode::kText));
  EXPECT_FALSE(render(R"({"a": {{variant})", kValues, Mode::kJson));  // not JSON once filled in
  auto names = unknown_names("{{ flag }}/{{flags}}", {"flag"});
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"flags"});
  EXPECT_FALSE(unknown_names("{{flag", {"flag"}));
}

}  // namespace
}  // namespace dg::flagtpl
