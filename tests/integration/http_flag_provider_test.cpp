// The http flag provider against a small in-house flag service
// (tests/support/flag_service.py): templated requests with JSON-escaped
// values, read-back verification, idempotent re-apply, conflicts, restore.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "flags/http/http_provider.h"
#include "flags/segment.h"
#include "tests/support/child.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;
const std::string kToken = "flag-service-test-token";

class HttpFlagProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<test::Child>(
        std::vector<std::string>{"python3", DG_SOURCE_DIR "/tests/support/flag_service.py", dir_.file("port"),
                                 dir_.file("requests.jsonl"), kToken},
        dir_.file("server.log"));
    ASSERT_TRUE(server_->started());
    ASSERT_TRUE(test::Child::wait_for(dir_.file("port"))) << test::slurp(dir_.file("server.log"));
    base_ = "http://127.0.0.1:" + test::slurp(dir_.file("port"));
  }

  HttpProviderSpec spec() const {
    HttpProviderSpec h;
    h.headers = {{"Authorization", "Bearer " + kToken}};
    h.read.url = base_ + "/flags/{{flag}}";
    h.state_pointer = "/state";
    h.apply.method = "PUT";
    h.apply.url = base_ + "/flags/{{flag}}";
    h.apply.body = R"({"variant": "{{variant}}", "segment": {{segment}}, "rule": {{segment_jsonlogic}},
                      "note": "for `{{segment}}` the rule is {{segment_jsonlogic}}"})";
    h.apply.expect_status = {200};
    h.applied_contains = R"("variant": "{{variant}}")";
    HttpFlagRequest restore;
    restore.method = "PUT";
    restore.url = base_ + "/flags/{{flag}}/state";
    restore.body = "{{state}}";
    h.restore = restore;
    return h;
  }
  std::unique_ptr<FlagProvider> provider(const HttpProviderSpec& h) {
    auto p = builtin_flag_providers().make(FlagProviderSpec{.name = "svc", .type = "http", .kind = h});
    EXPECT_TRUE(p.has_value());
    return std::move(*p);
  }
  std::vector<json::object> requests(const std::string& method) {
    std::vector<json::object> out;
    std::istringstream in(test::slurp(dir_.file("requests.jsonl")));
    for (std::string line; std::getline(in, line);) {
      auto o = parse_json(line)->as_object();
      if (o.at("method").as_string() == method) out.push_back(o);
    }
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<test::Child> server_;
  std::string base_;
};

TEST_F(HttpFlagProviderTest, SegmentFlipSendsEscapedValuesVerifiesAndRestores) {
  auto p = provider(spec());
  const std::string segment = R"(plan in ["free", "trial"] and pluginCount == 0)";
  FlagChange change{"connect-framework", "off", segment, compile_segment(segment).value()};
  auto before = p->read("connect-framework");
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(*parse_json(before->state_json), *parse_json(R"({"variant":"on"})"));

  // The service decides the new state: a preview says a request would go
  // out, and no intended state (null: reconcile judges by the previous one).
  auto pv = p->preview(change);
  ASSERT_TRUE(pv) << pv.error().message;
  EXPECT_TRUE(pv->changed);
  EXPECT_EQ(pv->current.state_json, "null");
  EXPECT_TRUE(requests("PUT").empty());

  auto r = p->apply(change, *before);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_FALSE(r->conflict);
  EXPECT_NE(r->detail.find("verified"), std::string::npos) << r->detail;
  // The body was JSON with every value escaped for where it stood.
  auto puts = requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  auto body = parse_json(std::string(puts[0].at("body").as_string()));
  ASSERT_TRUE(body) << puts[0].at("body");
  const auto& b = body->as_object();
  EXPECT_EQ(b.at("variant"), "off");
  EXPECT_EQ(b.at("segment"), json::value(segment));  // outside a string: a quoted JSON string
  EXPECT_EQ(b.at("rule"), *parse_json(change.segment_jsonlogic));  // outside a string: the JSON itself
  EXPECT_EQ(b.at("note"), json::value("for `" + segment + "` the rule is " + change.segment_jsonlogic));
  auto after = p->read("connect-framework");
  EXPECT_TRUE(same_state(*after, r->current));

  // Already applied: nothing sent.
  auto again = p->apply(change, r->current);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(requests("PUT").size(), 1u);

  auto back = p->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  EXPECT_NE(back->detail.find("verified"), std::string::npos) << back->detail;
  EXPECT_TRUE(same_state(*p->read("connect-framework"), *before));
}

TEST_F(HttpFlagProviderTest, EveryoneFlipSendsNullRule) {
  auto p = provider(spec());
  auto r = p->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_TRUE(r) << r.error().message;
  auto puts = requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  auto body = parse_json(std::string(puts[0].at("body").as_string()))->as_object();
  EXPECT_TRUE(body.at("rule").is_null());
  EXPECT_EQ(body.at("segment"), "");
}

TEST_F(HttpFlagProviderTest, SomeoneElsesChangeIsAConflict) {
  auto p = provider(spec());
  auto stale = p->read("connect-framework");
  ASSERT_TRUE(stale);
  HttpRequest other{.method = "PUT", .url = base_ + "/flags/connect-framework",
                    .headers = {{"Authorization", "Bearer " + kToken}}, .body = R"({"variant": "beta"})"};
  ASSERT_EQ(http_perform(other)->status, 200);
  auto r = p->apply(FlagChange{"connect-framework", "off", "", ""}, *stale);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->conflict);
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(requests("PUT").size(), 1u);  // only theirs
  EXPECT_NE(p->read("connect-framework")->state_json.find("beta"), std::string::npos);
}

TEST_F(HttpFlagProviderTest, ARefusedWriteIsAnErrorWithoutTheToken) {
  secrets::add("Bearer wrong-secret-token-value");
  HttpProviderSpec h = spec();
  h.headers = {{"Authorization", "Bearer wrong-secret-token-value"}};
  auto p = provider(h);
  auto r = p->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("HTTP 401"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("wrong-secret-token-value"), std::string::npos) << r.error().message;
  EXPECT_NE(p->read("connect-framework")->state_json.find("\"on\""), std::string::npos);
}

TEST_F(HttpFlagProviderTest, AnAnswerTheReadBackDoesNotConfirmIsReported) {
  HttpProviderSpec h = spec();
  h.apply.url = base_ + "/flags/{{flag}}-shadow";  // accepted, but not the flag that is read
  h.apply.body = R"({"variant": "{{variant}}"})";
  auto p = provider(h);
  auto r = p->apply(FlagChange{"connect-framework", "off", "", ""});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);  // a request was accepted: the caller keeps the undo
  EXPECT_NE(r->detail.find("does not show it"), std::string::npos) << r->detail;
}

}  // namespace
}  // namespace dg
