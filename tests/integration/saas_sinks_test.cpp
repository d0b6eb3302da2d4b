// The SaaS incident sinks (PagerDuty, Opsgenie, Jira, Statuspage, Slack) and
// the signed webhook, configured through the loader (env: and file:
// secrets) and driven by the notifier, against the local contract server,
// which rejects any request that differs from contracts.md: a whole incident
// cycle, retries on 429 / 500 with Retry-After, a hung call cut by the
// timeout, one incident per trip across retries and restarts, and no secret
// in any output of any failure path.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "agent/config/config.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/incidents/notifier.h"
#include "agent/incidents/sinks/webhook_sink.h"
#include "tests/support/contract_server.h"
#include "tests/support/http_server.h"
#include "tests/support/temp_dir.h"

namespace dg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const char* kPdKey = "R0UT1NGKEYpd0000000000000000abcd";
const char* kGenieKey = "genie-5ecret-9f8e7d";
const char* kJiraToken = "jira-T0KEN-4c3b2a";
const char* kStatusKey = "sp-0AUTH-1a2b3c4d";
const char* kSlackPath = "/services/T0001/B0002/XyZslackSecret42";

std::string config_text(const ContractServer& s) {
  std::string base = s.url();
  return R"([agent]
service = "wiki"
environment = "prod"

[probes.editor]
type = "http"
url = "http://127.0.0.1:9/edit"

[policies.editor]
probes = ["editor"]
[[policies.editor.actions]]
type = "flag"
provider = "flags"
flag = "connect-framework"

[flag_providers.flags]
type = "flagd-file"
path = "flags.json"

[incident_sinks.pd]
type = "pagerduty"
routing_key = "env:DG_TEST_PD_KEY"
url = ")" + base + R"(/v2/enqueue"
timeout = "500ms"
backoff = "20ms"

[incident_sinks.og]
type = "opsgenie"
api_key = "file:secrets/genie"
base_url = ")" + base + R"(/jsm/ops/integration"
teams = ["platform"]
priority = "P2"
timeout = "300ms"
backoff = "20ms"

[incident_sinks.jira]
type = "jira"
base_url = ")" + base + R"("
email = "guard@example.com"
api_token = "env:DG_TEST_JIRA_TOKEN"
project = "OPS"
close_transition = "31"
timeout = "300ms"
backoff = "20ms"

[incident_sinks.status]
type = "statuspage"
api_key = "env:DG_TEST_SP_KEY"
page_id = "pg1"
base_url = ")" + base + R"(/v1"
component_ids = ["cmpEditor"]
opened_body = "Editing is failing for {{affected}} since {{since}}."
backoff = "20ms"

[incident_sinks.slack]
type = "slack"
webhook_url = "env:DG_TEST_SLACK_URL"
mention = "<!here>"
backoff = "20ms"
)";
}

struct Rig {
  ContractServer server{{std::string("pagerduty_routing_key=") + kPdKey, std::string("opsgenie_key=") + kGenieKey,
                         "jira_email=guard@example.com", std::string("jira_token=") + kJiraToken,
                         std::string("statuspage_key=") + kStatusKey, std::string("slack_path=") + kSlackPath}};
  TempDir dir;
  FakeClock clock;
  std::optional<Config> cfg;
  std::map<std::string, std::unique_ptr<IncidentSink>> sinks;
  std::unique_ptr<Journal> journal;
  std::vector<std::string> log;
  std::mutex log_mu;

  Rig() {
    ::setenv("DG_TEST_PD_KEY", kPdKey, 1);
    ::setenv("DG_TEST_JIRA_TOKEN", kJiraToken, 1);
    ::setenv("DG_TEST_SP_KEY", kStatusKey, 1);
    ::setenv("DG_TEST_SLACK_URL", server.url(kSlackPath).c_str(), 1);
    std::filesystem::create_directories(dir.file("secrets"));
    dir.write("secrets/genie", std::string(kGenieKey) + "\n");
    std::string path = dir.write("deployguard.toml", config_text(server));
    LoadResult r = load_config(path);
    if (!r.config) {
      for (const auto& d : r.diagnostics) ADD_FAILURE() << d.str();
      return;
    }
    cfg = std::move(r.config);
    for (const auto& s : cfg->incident_sinks) {
      auto made = builtin_incident_sinks().make(s);
      if (!made) ADD_FAILURE() << made.error().message;
      else sinks[s.name] = std::move(*made);
    }
    open_journal("run-1");
  }
  void open_journal(const std::string& run) {
    journal.reset();
    journal = std::move(*Journal::open(dir.file("journal.jsonl"), clock));
    journal->set_context({"wiki", "prod", "v42", run});
  }
  std::map<std::string, IncidentSink*> pointers(std::vector<std::string> only = {}) {
    std::map<std::string, IncidentSink*> out;
    for (auto& [n, s] : sinks)
      if (only.empty() || std::find(only.begin(), only.end(), n) != only.end()) out[n] = s.get();
    return out;
  }
  NotifierOptions options() {
    NotifierOptions o;
    o.log = [this](const std::string& l) {
      std::lock_guard lock(log_mu);
      log.push_back(l);
    };
    return o;
  }
  std::string journal_text() {
    std::ifstream in(dir.file("journal.jsonl"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<json::object> outcomes(const std::string& kind) {
    std::vector<json::object> out;
    for_each_record(dir.file("journal.jsonl"), [&](json::object& r) {
      if (string_at(r, "kind") == kind) out.push_back(r);
      return true;
    });
    return out;
  }
};

Incident trip(const std::string& event, const std::string& status = "mitigating") {
  Incident i;
  i.event = event;
  i.key = "dg-0f3a9c2b7d1e5a4c6b8d0e2f";
  i.title = "wiki: editor tripped after release v42";
  i.service = "wiki";
  i.environment = "prod";
  i.release = "v42";
  i.policy = "editor";
  i.status = status;
  i.scope = "tenants with pluginCount == 0";
  i.experience = "GET /edit returns 500 | evidence: <html>Internal error</html>";
  i.failure_ratio = 0.75;
  i.since = TimePoint{std::chrono::seconds{1'796'000'000}};
  i.at = i.since + 90s;
  i.actions = {"set flag connect-framework to \"off\" (applied): wrote flags.json"};
  i.journal = "journal.jsonl#7";
  return i;
}

void expect_all_accepted(const json::array& reqs) {
  for (const auto& r : reqs) {
    const auto& o = r.as_object();
    if (o.contains("fault")) continue;
    EXPECT_TRUE(o.contains("accepted") && o.at("accepted") == json::value(true))
        << string_at(o, "method") << " " << string_at(o, "path") << ": " << string_at(o, "reason");
  }
}

TEST(SaasSinks, AWholeIncidentReachesEveryVendorInItsOwnShape) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok());
  ASSERT_TRUE(rig.cfg);
  {
    IncidentNotifier n(rig.pointers(), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    Incident u = trip("updated", "mitigated");
    u.at += 60s;
    n.notify(u, {}, false);
    Incident r = trip("resolved", "mitigated");
    r.at += 120s;
    n.notify(r, {}, false);
    ASSERT_TRUE(n.flush(20s));
    for (const auto& line : n.delivery_report()) EXPECT_EQ(line.find("FAILED"), std::string::npos) << line;
  }
  auto reqs = rig.server.requests();
  expect_all_accepted(reqs);
  auto st = rig.server.state();
  const auto& pd = st["pagerduty"].as_object();
  ASSERT_EQ(pd.size(), 1u) << "one alert per trip";
  EXPECT_EQ(pd.begin()->value().as_object().at("status"), json::value("resolved"));
  EXPECT_EQ(pd.begin()->value().as_object().at("opened"), json::value(1));
  const auto& og = st["opsgenie"].as_object();
  ASSERT_EQ(og.size(), 1u);
  EXPECT_EQ(og.begin()->value().as_object().at("status"), json::value("closed"));
  EXPECT_EQ(st["jira_creates"], json::value(1));
  const auto& jira = st["jira"].as_object();
  ASSERT_EQ(jira.size(), 1u);
  EXPECT_EQ(jira.begin()->value().as_object().at("status"), json::value("Done"));
  EXPECT_EQ(st["jira_comments"].as_object().begin()->value().as_array().size(), 2u) << "update and resolve";
  EXPECT_EQ(st["statuspage_creates"], json::value(1));
  const auto& sp = st["statuspage"].as_object().begin()->value().as_object();
  EXPECT_EQ(sp.at("status"), json::value("resolved"));
  EXPECT_EQ(sp.at("components").as_object().at("cmpEditor"), json::value("operational"));
  EXPECT_NE(sp.at("updates").as_array()[0].as_string().find("tenants with pluginCount == 0"), std::string::npos)
      << "customer wording from the template";
  EXPECT_EQ(std::string(sp.at("updates").as_array()[0].as_string()).find("evidence"), std::string::npos)
      << "customers never see internal evidence";
  ASSERT_EQ(st["slack"].as_array().size(), 3u);
  std::string slack_text(st["slack"].as_array()[0].as_object().at("text").as_string());
  EXPECT_EQ(slack_text.find("<html>"), std::string::npos) << "escaped";
  // The content of every incident reaches PagerDuty's custom details.
  for (const auto& r : reqs) {
    const auto& o = r.as_object();
    if (string_at(o, "path") != "/v2/enqueue" || !o.at("body").is_object()) continue;
    const auto& b = o.at("body").as_object();
    if (string_at(b, "event_action") != "trigger") continue;
    const auto& d = b.at("payload").as_object().at("custom_details").as_object();
    for (const char* k : {"Affected", "Experience", "Since", "How often", "Done", "Journal head"})
      EXPECT_TRUE(d.contains(k)) << k;
  }
}

TEST(SaasSinks, RetriesA429WithRetryAfterAndA500ThenDelivers) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok() && rig.cfg);
  rig.server.fault("/v2/enqueue", json::array{json::object{{"status", 429}, {"retry_after", "1"}},
                                              json::object{{"status", 500}}});
  {
    IncidentNotifier n(rig.pointers({"pd"}), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    ASSERT_TRUE(n.flush(15s));
  }
  auto reqs = rig.server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  double gap = reqs[1].as_object().at("at").to_number<double>() - reqs[0].as_object().at("at").to_number<double>();
  EXPECT_GE(gap, 0.95) << "Retry-After: 1 honoured";
  auto out = rig.outcomes("incident_opened");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["data"].as_object()["ok"], json::value(true));
  EXPECT_EQ(out[0]["data"].as_object()["attempts"], json::value(3));
  EXPECT_EQ(rig.server.state()["pagerduty"].as_object().size(), 1u);
}

TEST(SaasSinks, AHungCallIsCutByTheTimeoutAndRetried) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok() && rig.cfg);
  rig.server.fault("/v2/alerts", json::array{json::object{{"hang", true}}});
  auto t0 = std::chrono::steady_clock::now();
  {
    IncidentNotifier n(rig.pointers({"og"}), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    ASSERT_TRUE(n.flush(15s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "the 300ms timeout, not the 30s hang";
  auto out = rig.outcomes("incident_opened");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["data"].as_object()["ok"], json::value(true));
  EXPECT_EQ(out[0]["data"].as_object()["attempts"], json::value(2));
  EXPECT_EQ(rig.server.state()["opsgenie"].as_object().size(), 1u);
}

TEST(SaasSinks, JiraCreatesOneIssuePerTripAcrossALostResponseRetriesAndARestart) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok() && rig.cfg);
  // The create is made but its answer comes after our timeout: the retry
  // finds the issue by its label instead of creating a second one.
  rig.server.fault("/rest/api/3/issue", json::array{json::object{{"delay", 0.6}}});
  {
    IncidentNotifier n(rig.pointers({"jira", "status"}), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    ASSERT_TRUE(n.flush(15s));
  }
  EXPECT_EQ(rig.server.state()["jira_creates"], json::value(1));
  // From now on the search index "lags": only the journaled key can prevent
  // a duplicate. A restart, then comments fail twice before working.
  rig.server.control("jira_index_lag", json::object{{"seconds", 3600}});
  rig.server.fault("/comment", json::array{json::object{{"status", 503}}, json::object{{"status", 502}}});
  rig.open_journal("run-2");
  {
    IncidentNotifier n(rig.pointers({"jira", "status"}), *rig.journal, rig.options());
    auto resumed = resume_deliveries(n, rig.dir.file("journal.jsonl"), "run-2");
    EXPECT_EQ(resumed.requeued, 0);
    EXPECT_GE(resumed.remembered, 2) << "Jira's key and Statuspage's id";
    n.notify(trip("updated"), {}, false);
    n.notify(trip("resolved", "mitigated"), {}, false);
    ASSERT_TRUE(n.flush(15s));
  }
  auto st = rig.server.state();
  EXPECT_EQ(st["jira_creates"], json::value(1));
  EXPECT_EQ(st["statuspage_creates"], json::value(1));
  EXPECT_EQ(st["jira"].as_object().begin()->value().as_object().at("status"), json::value("Done"));
  EXPECT_EQ(st["statuspage"].as_object().begin()->value().as_object().at("status"), json::value("resolved"));
}

TEST(SaasSinks, AnEventPendingWhenTheGuardStoppedIsSentByTheNextStartOnce) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok() && rig.cfg);
  rig.server.fault("/v2/enqueue", json::array{json::object{{"status", 500}}, json::object{{"status", 500}},
                                              json::object{{"status", 500}}, json::object{{"status", 500}}});
  {
    // Retries 20 ms apart: the notifier stops after the first answers,
    // before giving up, so nothing settles the intent.
    IncidentNotifier n(rig.pointers({"pd"}), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_TRUE(rig.outcomes("incident_opened").empty());
  // Run 2 meets the two 500s left, then delivers.
  for (int run = 2; run <= 3; ++run) {
    rig.open_journal("run-" + std::to_string(run));
    IncidentNotifier n(rig.pointers({"pd"}), *rig.journal, rig.options());
    resume_deliveries(n, rig.dir.file("journal.jsonl"), "run-" + std::to_string(run));
    ASSERT_TRUE(n.flush(15s));
  }
  auto delivered = rig.outcomes("incident_opened");
  int ok = 0;
  for (auto& o : delivered) ok += o["data"].as_object()["ok"] == json::value(true);
  EXPECT_EQ(ok, 1) << "re-sent by run 2, not again by run 3";
  EXPECT_EQ(rig.server.state()["pagerduty"].as_object().begin()->value().as_object().at("opened"), json::value(1));
}

TEST(SaasSinks, NoSecretInAnyOutputOfAnyFailurePath) {
  Rig rig;
  ASSERT_TRUE(rig.server.ok() && rig.cfg);
  // A proxy that echoes what it got, secrets included, with every error.
  std::string echo = std::string("upstream said: key=") + kPdKey + " genie=" + kGenieKey + " jira=" + kJiraToken +
                     " sp=" + kStatusKey + " url=" + kSlackPath;
  for (const char* path : {"/v2/enqueue", "/v2/alerts", "/rest/", "/v1/pages", "/services/"})
    rig.server.fault(path, json::array{json::object{{"status", 502}, {"body", echo}},
                                       json::object{{"status", 401}, {"body", echo}}});
  std::vector<std::string> report;
  {
    IncidentNotifier n(rig.pointers(), *rig.journal, rig.options());
    n.notify(trip("opened"), {}, false);
    ASSERT_TRUE(n.flush(20s));
    report = n.delivery_report();
  }
  std::string all = rig.journal_text();
  for (const auto& l : rig.log) all += l + "\n";
  for (const auto& l : report) all += l + "\n";
  EXPECT_NE(all.find("FAILED"), std::string::npos) << "the failure paths ran";
  EXPECT_NE(all.find("[REDACTED]"), std::string::npos);
  std::string slack_token = std::string(kSlackPath).substr(std::string(kSlackPath).rfind('/') + 1);
  for (const std::string secret : {std::string(kPdKey), std::string(kGenieKey), std::string(kJiraToken),
                                   std::string(kStatusKey), slack_token})
    EXPECT_EQ(all.find(secret), std::string::npos) << "secret " << secret.substr(0, 4) << "… leaked";
}

// The webhook sink, signed: the receiver can verify origin and freshness.
TEST(WebhookSigning, SignatureIsHmacOverTimestampDotBody) {
  HttpServer server([](const Request&) { return Response{200, "ok"}; });
  ::setenv("DG_TEST_HOOK_SECRET", "whsec-9a8b7c6d", 1);
  WebhookSinkSpec w;
  w.url = server.url("/hook");
  w.signing_secret = "whsec-9a8b7c6d";
  auto sink = builtin_incident_sinks().make(IncidentSinkSpec{.name = "hook", .type = "webhook", .kind = w});
  ASSERT_TRUE(sink);
  auto r = (*sink)->send(trip("opened"));
  ASSERT_TRUE(r) << r.error().message;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  std::string ts = reqs[0].header("X-Deployguard-Timestamp");
  ASSERT_FALSE(ts.empty());
  EXPECT_LT(std::abs(std::stoll(ts) - std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count()), 30);
  EXPECT_EQ(reqs[0].header("X-Deployguard-Signature"), webhook_signature("whsec-9a8b7c6d", std::stoll(ts), reqs[0].body));
  EXPECT_EQ(reqs[0].header("X-Deployguard-Signature"),
            "sha256=" + hmac_sha256_hex("whsec-9a8b7c6d", ts + "." + reqs[0].body));
}

}  // namespace
}  // namespace dg::test
