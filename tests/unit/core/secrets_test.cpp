// Redaction on values: JSON string leaves and keys, never numbers or the
// fields the program writes itself; redaction before any cut; the parts of a
// URL that travel alone. Through the journal, the reports, an incident sink
// and the probe evaluators, where the old text-level redaction failed.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "agent/incidents/sinks/webhook_sink.h"
#include "agent/incidents/sinks/file_sink.h"
#include "agent/core/secrets.h"
#include "agent/incidents/incident.h"
#include "agent/journal/journal.h"
#include "agent/verify/report.h"
#include "probes/command_probe.h"
#include "probes/http_probe.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// A fresh registry per test; leaves it empty for the next suite.
struct Registered {
  explicit Registered(std::initializer_list<std::string> values) {
    secrets::clear_for_tests();
    for (const auto& v : values) secrets::add(v);
  }
  ~Registered() { secrets::clear_for_tests(); }
};

TimePoint december_2026() { return TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}.time_since_epoch() + 7h}; }

std::vector<json::object> lines_of(const std::string& text) {
  std::vector<json::object> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(json::parse(text.substr(start, nl - start)).as_object());
  return out;
}

bool has_prefix_of(const std::string& text, const std::string& secret, size_t min_len = 4) {
  for (size_t n = min_len; n <= secret.size(); ++n)
    if (text.find(secret.substr(0, n)) != std::string::npos) return true;
  return false;
}

TEST(RedactJson, StringLeavesAndKeysNeverNumbersNorKeptFields) {
  Registered r{"2026"};
  json::value v = json::parse(R"({"seq":2026,"time":"2026-12-01T07:00:00.000Z","data":{"url":"http://h/acct/2026/x",
      "n":2026,"list":["id 2026",2026],"2026":"key"}})");
  secrets::redact_json(v, {"seq", "time"});
  auto& o = v.as_object();
  EXPECT_EQ(o["seq"].as_int64(), 2026);
  EXPECT_EQ(o["time"].as_string(), "2026-12-01T07:00:00.000Z");
  auto& d = o["data"].as_object();
  EXPECT_EQ(d["url"].as_string(), "http://h/acct/[REDACTED]/x");
  EXPECT_EQ(d["n"].as_int64(), 2026);
  EXPECT_EQ(d["list"].as_array()[0].as_string(), "id [REDACTED]");
  EXPECT_EQ(d["list"].as_array()[1].as_int64(), 2026);
  EXPECT_FALSE(d.contains("2026"));
  EXPECT_EQ(d["[REDACTED]"].as_string(), "key");
}

TEST(RedactJson, KeepAppliesOnlyAtTheTopLevel) {
  Registered r{"2026"};
  json::value v = json::parse(R"({"time":"2026","data":{"time":"2026"}})");
  secrets::redact_json(v, {"time"});
  EXPECT_EQ(v.at("time").as_string(), "2026");
  EXPECT_EQ(v.at("data").at("time").as_string(), "[REDACTED]");
}

TEST(Redact, LongestSecretWinsAndTheMarkerIsNotRedactedAgain) {
  Registered r{"ACT", "token-ACT-long"};
  EXPECT_EQ(secrets::redact("a token-ACT-long b ACT"), "a [REDACTED] b [REDACTED]");
  Registered r2{"RED"};
  EXPECT_EQ(secrets::redact("RED"), "[REDACTED]");
}

TEST(Redact, ShortValuesAreNotSecrets) {
  Registered r{"ab", "abc"};
  EXPECT_EQ(secrets::redact("ab abc"), "ab [REDACTED]");
}

TEST(Journal, ShortSecretNeverGarblesTheRecordsOwnFields) {
  // An account id "2026" used to turn every timestamp into "[REDACTED]-12-01T…".
  test::TempDir dir;
  Registered r{"2026"};
  FakeClock clock(december_2026());
  {
    auto j = Journal::open(dir.file("j.jsonl"), clock);
    ASSERT_TRUE(j) << j.error().message;
    ASSERT_TRUE((*j)->append("probe_observation", {{"data", {{"detail", "GET /accounts/2026/health: 500"}, {"n", 2026}}}}));
  }
  auto records = lines_of(test::slurp(dir.file("j.jsonl")));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["time"].as_string().subview().substr(0, 11), "2026-12-01T");
  EXPECT_EQ(records[0]["data"].at("detail").as_string(), "GET /accounts/[REDACTED]/health: 500");
  EXPECT_EQ(records[0]["data"].at("n").as_int64(), 2026);
  EXPECT_TRUE(verify_journal(dir.file("j.jsonl")).ok);
}

TEST(Journal, SecretMatchingASequenceNumberLeavesTheChainReadable) {
  // "seq":100 rewritten as text made the next run refuse the journal.
  test::TempDir dir;
  Registered r{"100"};
  FakeClock clock;
  {
    auto j = Journal::open(dir.file("j.jsonl"), clock);
    ASSERT_TRUE(j) << j.error().message;
    for (int i = 0; i < 101; ++i) ASSERT_TRUE((*j)->append("event", {}));
  }
  EXPECT_TRUE(verify_journal(dir.file("j.jsonl")).ok) << verify_journal(dir.file("j.jsonl")).message;
  auto again = Journal::open(dir.file("j.jsonl"), clock);
  ASSERT_TRUE(again) << again.error().message;
  auto seq = (*again)->append("event", {});
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 102);
}

VerifyReport sample_report() {
  VerifyReport r;
  r.service = "wiki";
  r.environment = "prod";
  r.release = "v2";
  r.started = december_2026();
  r.finished = r.started + 12s;
  PolicyResult p;
  p.name = "editor";
  p.state = "mitigated";
  p.reasons = {"GET /accounts/2026/edit failed with a&b<2026>"};
  ActionRecord a;
  a.description = "rollback";
  a.outcome = "ok";
  a.detail = "account 2026 rolled back";
  a.at = r.started + 5s;
  p.actions.push_back(a);
  r.policies.push_back(p);
  return r;
}

TEST(Reports, JsonRedactsValuesAndKeepsTimes) {
  Registered r{"2026"};
  json::object doc = json::parse(report_json(sample_report())).as_object();
  EXPECT_EQ(doc["started"].as_string().subview().substr(0, 4), "2026");
  EXPECT_EQ(doc["finished"].as_string().subview().substr(0, 4), "2026");
  auto& policy = doc["policies"].as_array()[0].as_object();
  EXPECT_EQ(policy["reasons"].as_array()[0].as_string(), "GET /accounts/[REDACTED]/edit failed with a&b<[REDACTED]>");
  auto& action = policy["actions"].as_array()[0].as_object();
  EXPECT_EQ(action["detail"].as_string(), "account [REDACTED] rolled back");
  EXPECT_EQ(action["at"].as_string().subview().substr(0, 4), "2026");
}

TEST(Reports, JunitRedactsBeforeEscaping) {
  Registered r{"a&b<c"};
  VerifyReport rep = sample_report();
  rep.policies[0].reasons = {"login a&b<c refused"};
  std::string xml = report_junit(rep);
  EXPECT_EQ(xml.find("a&amp;b&lt;c"), std::string::npos) << xml;
  EXPECT_NE(xml.find("login [REDACTED] refused"), std::string::npos) << xml;
  EXPECT_NE(xml.find("timestamp=\"2026-12-01T"), std::string::npos) << "a short secret must not garble it";
}

TEST(Reports, SummaryKeepsTimesAndRedactsValues) {
  Registered r{"2026"};
  std::string text = summary_text(sample_report());
  EXPECT_NE(text.find("of 2026-12-01T07:00:00"), std::string::npos) << text;
  EXPECT_NE(text.find("account [REDACTED] rolled back"), std::string::npos) << text;
}

TEST(IncidentFile, TimesStayAndStringsAreRedacted) {
  test::TempDir dir;
  Registered r{"2026"};
  IncidentSinkRegistry registry;
  register_builtin_incident_sinks(registry);
  auto sink = registry.make(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{dir.file("i.jsonl")}});
  ASSERT_TRUE(sink);
  Incident i{.event = "opened", .key = "k", .title = "editor tripped", .experience = "account 2026 gets 500"};
  i.since = i.at = december_2026();
  ASSERT_TRUE((*sink)->send(i));
  auto lines = lines_of(test::slurp(dir.file("i.jsonl")));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["at"].as_string().subview().substr(0, 4), "2026");
  EXPECT_EQ(lines[0]["since"].as_string().subview().substr(0, 4), "2026");
  EXPECT_EQ(lines[0]["experience"].as_string(), "account [REDACTED] gets 500");
}

// --- redaction before any cut ---

TEST(Excerpt, SecretStraddlingTheCutLeavesNoPrefix) {
  const std::string secret = "sk-live-0123456789abcdef";
  Registered r{secret};
  for (size_t at : {228u, 235u, 239u, 240u}) {
    std::string body = std::string(at, 'x') + secret + std::string(1000, 'y');
    std::string e = secrets::excerpt(body, 240);
    EXPECT_FALSE(has_prefix_of(e, secret)) << at << ": " << e;
    EXPECT_LE(e.size(), 240u + 16);
    // Straddling the start of a tail.
    std::string tail_body = std::string(1000, 'y') + secret + std::string(at, 'x');
    std::string t = secrets::excerpt_tail(tail_body, 240);
    EXPECT_EQ(t.find(secret.substr(secret.size() - 6)), std::string::npos) << at << ": " << t;
  }
}

TEST(Excerpt, AroundAndShrinkingRedactionsNeverExposeALaterSecret) {
  // Redacting a long secret shrinks the text: a second one just past the
  // window must not slide into view half-redacted.
  const std::string secret(40, 'S');
  Registered r{secret + "-1", "second-secret-value"};
  std::string body = secret + "-1" + std::string(215, '.') + "second-secret-value" + std::string(100, '.');
  EXPECT_FALSE(has_prefix_of(secrets::excerpt(body, 240), "second-secret-value"));
  std::string around = secrets::excerpt_around(body, 250, 240);
  EXPECT_EQ(around.find("second-secret"), std::string::npos) << around;
}

TEST(Excerpt, CappedOutputEndingInsideASecretDropsItsStart) {
  const std::string secret = "db-password-0xC0FFEE-42";
  Registered r{secret};
  std::string out = "connecting with " + secret.substr(0, 12);  // the cap cut the rest
  std::string t = secrets::excerpt_tail(out, 240, /*truncated=*/true);
  EXPECT_FALSE(has_prefix_of(t, secret)) << t;
  EXPECT_NE(t.find("connecting with"), std::string::npos) << t;
}

TEST(HttpEval, BodyExcerptHasNoPrefixOfASecretAtTheCut) {
  const std::string secret = "tok_9f8e7d6c5b4a39281706";
  Registered r{secret};
  HttpProbeSpec h;
  h.url = "http://127.0.0.1:1/";
  h.expect.body_contains = {"ready"};
  ProbeSpec spec{.name = "p", .type = "http", .kind = h};
  HttpResponse resp;
  resp.status = 200;
  resp.body = std::string(230, 'a') + secret + std::string(500, 'b');
  Observation o = evaluate_http(spec, resp, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_FALSE(has_prefix_of(o.excerpt, secret)) << o.excerpt;
}

TEST(CommandEval, OutputTailHasNoPrefixOfASecretCutByTheCap) {
  const std::string secret = "pw-AbCdEfGh-12345678";
  Registered r{secret};
  CommandProbeSpec c;
  c.argv = {"true"};
  ProbeSpec spec{.name = "c", .type = "command", .kind = c};
  CommandResult res;
  res.exit_code = 1;
  res.err = std::string(100, 'e') + " using " + secret.substr(0, 10);
  res.err_truncated = true;
  Observation o = evaluate_command(spec, res, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_FALSE(has_prefix_of(o.excerpt, secret)) << o.excerpt;
}

// --- URL parts ---

TEST(SecretUrl, SlackStylePathSegmentsAndTheWholePathAreSecrets) {
  const std::string url = "https://hooks.slack.example/services/T0AB12CD3/B0XY98ZW7/abcdefghijklmnopqrstuvwx";
  Registered r{url};
  EXPECT_EQ(secrets::redact("POST " + url + ": refused"), "POST [REDACTED]: refused");
  std::string echoed = secrets::redact("upstream said: no route for /services/T0AB12CD3/B0XY98ZW7/abcdefghijklmnopqrstuvwx");
  EXPECT_EQ(echoed.find("abcdefghijklmnopqrstuvwx"), std::string::npos) << echoed;
  EXPECT_EQ(echoed.find("T0AB12CD3"), std::string::npos) << echoed;
  EXPECT_EQ(secrets::redact("token abcdefghijklmnopqrstuvwx"), "token [REDACTED]");
  // The API's own words stay readable.
  EXPECT_EQ(secrets::redact("the services endpoint"), "the services endpoint");
}

TEST(SecretUrl, QueryValuesOfCredentialKeysAndGeneratedValues) {
  Registered r{"https://alerts.example/hook?api_key=k3y9&format=json&sig=Zm9vYmFyYmF6cXV4cXV1eA%3D%3D"};
  EXPECT_EQ(secrets::redact("api_key=k3y9"), "api_key=[REDACTED]");
  EXPECT_EQ(secrets::redact("sig Zm9vYmFyYmF6cXV4cXV1eA=="), "sig [REDACTED]") << "percent-decoded spelling too";
  EXPECT_EQ(secrets::redact("format=json"), "format=json");
}

TEST(SecretUrl, PasswordInUserinfo) {
  Registered r{"https://bot:hunter2-xyz@example.com/path"};
  EXPECT_EQ(secrets::redact("login hunter2-xyz"), "login [REDACTED]");
}

}  // namespace
}  // namespace dg
