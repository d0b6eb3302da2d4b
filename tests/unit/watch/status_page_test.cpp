// The status page is rendered on the server from the status JSON: readable
// without its script, every text escaped, nothing inline for the CSP to allow,
// and the alarm form says what it needs.
#include "agent/watch/status_page.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace dg::status_page {
namespace {

namespace json = boost::json;

json::object status() {
  return json::parse(R"({"service":"wiki","environment":"prod","journal_head":"7:abc",
    "services":[{"name":"wiki","release":"2"},{"name":"search","release":""}],
    "policies":[{"name":"editor","service":"wiki","state":"mitigated","release":"2","incident":"dg-1",
                 "last":{"probe_a":{"at":"2026-11-02T10:00:00.000Z","outcome":"failed","detail":"<img src=x onerror=alert(1)>"},
                         "probe_b":{}},
                 "actions":[{"description":"set flag f to off","outcome":"applied","recovery":"recovered"}]},
                {"name":"quiet","service":"search","state":"paused","release":"","last":{}}],
    "incidents":[{"key":"dg-9","service":"wiki","scope":"tenant acme","state":"investigating",
                  "actions":["alarm raised by carol: editor empty"]}]})")
      .as_object();
}

TEST(StatusPage, ServerRenderedEscapedAndWithoutInlineCode) {
  json::object s = status();
  json::array decisions =
      json::parse(R"([{"seq":6,"time":"t","kind":"alarm_raised","data":{"who":"carol","reason":"editor empty"}},
                                         {"seq":7,"time":"t","kind":"policy_state","policy":"editor","data":{"state":"mitigated"}}])")
          .as_array();
  kpi::Report k;
  std::string page = render_page({.status = s, .decisions = decisions, .kpis = k, .alarm_token_configured = true});
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>"));
  EXPECT_NE(page.find("<script src=\"/static/app.js\" defer></script>"), std::string::npos);
  EXPECT_NE(page.find("href=\"/static/app.css\""), std::string::npos);
  for (const char* inline_code : {"<script>", "<style", " style=", "onclick", "<img"})
    EXPECT_EQ(page.find(inline_code), std::string::npos) << inline_code;
  EXPECT_NE(page.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(page.find("class=\"badge state-mitigated\">mitigated</span>"), std::string::npos);
  EXPECT_NE(page.find("data-action=\"resume\" data-policy=\"quiet\""), std::string::npos)
      << "a paused policy offers resume";
  EXPECT_NE(page.find("data-action=\"pause\" data-policy=\"editor\""), std::string::npos);
  EXPECT_NE(page.find("<a href=\"/incidents/dg-1\">"), std::string::npos);
  EXPECT_NE(page.find("data-incident=\"dg-9\""), std::string::npos);
  EXPECT_NE(page.find("alarm raised by carol: editor empty"), std::string::npos);
  EXPECT_NE(page.find("set flag f to off — applied"), std::string::npos) << "what was done";
  EXPECT_NE(page.find("no observation yet"), std::string::npos);
  EXPECT_NE(page.find("alarm by carol: editor empty"), std::string::npos) << "the last decisions";
  EXPECT_LT(page.find("#7"), page.find("#6")) << "newest first";
  EXPECT_NE(page.find("id=\"alarm-token\""), std::string::npos);
  EXPECT_NE(page.find("<noscript>"), std::string::npos);
  EXPECT_EQ(page.find("id=\"no-mutations\""), std::string::npos);
  EXPECT_NE(page.find("No incident in the journal yet."), std::string::npos);

  std::string live = render_live({.status = s, .decisions = decisions, .kpis = k});
  EXPECT_TRUE(live.starts_with("<div id=\"live\" data-head=\"7:abc\">"));
  EXPECT_EQ(live.find("alarm-form"), std::string::npos) << "the form is outside the refreshed part";
}

TEST(StatusPage, TheFormSaysWhatItNeeds) {
  json::object s = status();
  json::array none;
  kpi::Report k;
  std::string closed = render_page({.status = s, .decisions = none, .kpis = k});
  EXPECT_NE(closed.find("id=\"no-mutations\""), std::string::npos);
  std::string proxied = render_page(
      {.status = s, .decisions = none, .kpis = k, .identity = "dana <d@x>", .trusted_header = "x-forwarded-user"});
  EXPECT_NE(proxied.find("You are <strong>dana &lt;d@x&gt;</strong>"), std::string::npos);
  EXPECT_EQ(proxied.find("id=\"alarm-token\""), std::string::npos) << "no token asked of a signed-in user";
  EXPECT_NE(proxied.find("data-trusted-header=\"x-forwarded-user\""), std::string::npos);
  std::string locked = render_locked_page();
  EXPECT_EQ(locked.find("wiki"), std::string::npos) << "the locked page shows no data";
  EXPECT_NE(locked.find("id=\"read-form\""), std::string::npos);
  EXPECT_NE(std::string(kPageCsp).find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(std::string(kPageCsp).find("unsafe"), std::string::npos);
  EXPECT_NE(app_js().find("sessionStorage"), std::string::npos);
  EXPECT_EQ(app_js().find("innerHTML"), std::string::npos);
  EXPECT_EQ(app_js().find("document.cookie"), std::string::npos);
}

}  // namespace
}  // namespace dg::status_page
