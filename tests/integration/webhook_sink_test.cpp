// Incident sinks against real endpoints: the webhook sink's retry policy and
// payload over loopback HTTP, and the JSON Lines file sink.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "agent/incidents/sinks/file_sink.h"
#include "agent/incidents/sinks/webhook_sink.h"
#include "agent/core/fs.h"
#include "agent/core/secrets.h"
#include "agent/incidents/incident.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"

namespace dg::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

Incident sample_incident() {
  Incident i;
  i.event = "opened";
  i.key = "dg-wiki-prod-v42-7f3a";
  i.title = "wiki: checkout probe failing after release v42";
  i.service = "wiki";
  i.environment = "prod";
  i.release = "v42";
  i.policy = "checkout-errors";
  i.status = "mitigating";
  i.scope = "tenants with pluginCount == 0";
  i.experience = "GET /checkout returns 500: body does not contain \"ok\"";
  i.since = TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 25}} + 7h + 123ms;
  i.at = i.since + 90s;
  i.actions = {"flag connect-framework -> off for pluginCount == 0", "paged on-call"};
  i.journal = "/var/lib/deployguard/journal.jsonl#17";
  return i;
}

std::unique_ptr<IncidentSink> make_sink(const IncidentSinkSpec& spec) {
  IncidentSinkRegistry registry;
  register_builtin_incident_sinks(registry);
  auto sink = registry.make(spec);
  if (!sink) {
    ADD_FAILURE() << "cannot build sink: " << sink.error().message;
    return nullptr;
  }
  return std::move(*sink);
}

std::unique_ptr<IncidentSink> make_webhook(const std::string& url, int max_attempts = 4, Duration backoff = Duration{50},
                                           Duration timeout = Duration{2000}) {
  WebhookSinkSpec w;
  w.url = url;
  w.headers = {{"Authorization", "Bearer hook-token-123"}, {"X-Team", "platform"}};
  w.max_attempts = max_attempts;
  w.backoff = backoff;
  w.timeout = timeout;
  return make_sink(IncidentSinkSpec{.name = "oncall", .type = "webhook", .kind = w});
}

/// Answers with the given statuses in order (the last one repeats) and records
/// when each request arrived.
class Script {
 public:
  explicit Script(std::vector<Response> responses) : responses_(std::move(responses)) {}
  HttpServer::Handler handler() {
    return [this](const Request&) {
      std::lock_guard lock(mu_);
      arrivals_.push_back(std::chrono::steady_clock::now());
      size_t i = std::min(next_++, responses_.size() - 1);
      return responses_[i];
    };
  }
  std::vector<std::chrono::steady_clock::time_point> arrivals() {
    std::lock_guard lock(mu_);
    return arrivals_;
  }

 private:
  std::mutex mu_;
  std::vector<Response> responses_;
  size_t next_ = 0;
  std::vector<std::chrono::steady_clock::time_point> arrivals_;
};

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return "<missing or not a string: " + std::string(key) + ">";
  return std::string(v->get_string());
}

void expect_incident_json(const json::object& o, const Incident& i) {
  EXPECT_EQ(str(o, "event"), i.event);
  EXPECT_EQ(str(o, "dedup_key"), i.key);
  EXPECT_EQ(str(o, "title"), i.title);
  EXPECT_EQ(str(o, "status"), i.status);
  EXPECT_EQ(str(o, "service"), i.service);
  EXPECT_EQ(str(o, "environment"), i.environment);
  EXPECT_EQ(str(o, "release"), i.release);
  EXPECT_EQ(str(o, "policy"), i.policy);
  EXPECT_EQ(str(o, "affected"), i.scope);
  EXPECT_EQ(str(o, "experience"), i.experience);
  EXPECT_EQ(str(o, "since"), "2026-11-25T07:00:00.123Z");
  EXPECT_EQ(str(o, "at"), "2026-11-25T07:01:30.123Z");
  EXPECT_EQ(str(o, "journal"), i.journal);
  const json::value* actions = o.if_contains("actions");
  ASSERT_NE(actions, nullptr);
  ASSERT_TRUE(actions->is_array());
  ASSERT_EQ(actions->as_array().size(), i.actions.size());
  for (size_t k = 0; k < i.actions.size(); ++k) EXPECT_EQ(actions->as_array()[k], json::value(i.actions[k]));
}

TEST(WebhookSink, RetriesA500AndSendsTheSameIdempotentRequest) {
  Script script({Response{500, "internal"}, Response{200, "accepted"}});
  HttpServer server(script.handler());
  auto sink = make_webhook(server.url("/hooks/incidents"));
  ASSERT_NE(sink, nullptr);
  Incident incident = sample_incident();
  auto r = sink->send(incident);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->attempts, 2);

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& req : reqs) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/hooks/incidents");
    EXPECT_TRUE(req.header("Content-Type").starts_with("application/json")) << req.header("Content-Type");
    // Per event: retries share it; opened/updated/resolved of one incident do not.
    EXPECT_TRUE(req.header("Idempotency-Key").starts_with(incident.key + ":" + incident.event + ":"))
        << req.header("Idempotency-Key");
    EXPECT_EQ(req.header("Idempotency-Key"), reqs[0].header("Idempotency-Key"));
    EXPECT_EQ(req.header("Authorization"), "Bearer hook-token-123");
    EXPECT_EQ(req.header("X-Team"), "platform");
    EXPECT_EQ(str(parse_object(req.body), "dedup_key"), incident.key);
  }
  EXPECT_EQ(reqs[0].body, reqs[1].body) << "a retry must resend the same event";
}

TEST(WebhookSink, BodyHasEveryIncidentField) {
  HttpServer server([](const Request&) { return Response{202, ""}; });
  auto sink = make_webhook(server.url("/"));
  ASSERT_NE(sink, nullptr);
  Incident incident = sample_incident();
  auto r = sink->send(incident);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->attempts, 1);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  json::object body = parse_object(reqs[0].body);
  for (const char* field : {"event", "dedup_key", "title", "status", "service", "environment", "release", "policy",
                            "affected", "experience", "since", "at", "actions", "journal"})
    EXPECT_TRUE(body.contains(field)) << "missing field " << field << " in " << reqs[0].body;
  expect_incident_json(body, incident);
}

TEST(WebhookSink, HonoursRetryAfterOn429) {
  // Three 429s asking for 1 s each, then success. Retry-After is a floor set by
  // the receiver: no retry may come earlier, whatever the jitter.
  Response limited{429, "slow down", {{"Retry-After", "1"}}};
  Script script({limited, limited, limited, Response{200, "ok"}});
  HttpServer server(script.handler());
  auto sink = make_webhook(server.url("/"), /*max_attempts=*/4, /*backoff=*/Duration{10});
  ASSERT_NE(sink, nullptr);
  auto r = sink->send(sample_incident());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->attempts, 4);
  auto at = script.arrivals();
  ASSERT_EQ(at.size(), 4u);
  for (size_t k = 1; k < at.size(); ++k) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(at[k] - at[k - 1]);
    EXPECT_GE(gap.count(), 990) << "retry " << k << " came " << gap.count() << " ms after a 429 with Retry-After: 1";
    EXPECT_LT(gap.count(), 2500) << "retry " << k;
  }
}

TEST(WebhookSink, ClientErrorIsNotRetried) {
  Script script({Response{400, "bad payload: unknown field"}});
  HttpServer server(script.handler());
  auto sink = make_webhook(server.url("/"), /*max_attempts=*/4);
  ASSERT_NE(sink, nullptr);
  auto r = sink->send(sample_incident());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("400"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("bad payload"), std::string::npos) << r.error().message;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(WebhookSink, GivesUpAfterMaxAttemptsOfServerErrors) {
  Script script({Response{503, "unavailable"}});
  HttpServer server(script.handler());
  auto sink = make_webhook(server.url("/"), /*max_attempts=*/3, /*backoff=*/Duration{50});
  ASSERT_NE(sink, nullptr);
  auto started = std::chrono::steady_clock::now();
  auto r = sink->send(sample_incident());
  double took = seconds_since(started);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("503"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("3 attempt"), std::string::npos) << r.error().message;
  EXPECT_EQ(server.requests().size(), 3u);
  // Backoff 50 ms then 100 ms (±20%), no more.
  auto at = script.arrivals();
  ASSERT_EQ(at.size(), 3u);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(at[1] - at[0]).count(), 35);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(at[2] - at[1]).count(), 75);
  EXPECT_LT(took, 30.0) << "three attempts, then it gives up";
}

TEST(WebhookSink, ConnectionRefusedIsRetriedThenReported) {
  auto sink = make_webhook("http://127.0.0.1:" + std::to_string(closed_port()) + "/", /*max_attempts=*/2,
                           /*backoff=*/Duration{10});
  ASSERT_NE(sink, nullptr);
  auto r = sink->send(sample_incident());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("2 attempt"), std::string::npos) << r.error().message;
}

TEST(WebhookSink, SlowEndpointTimesOutAndIsRetried) {
  Script script({Response{200, "late", {}, 600}, Response{200, "ok"}});
  HttpServer server(script.handler());
  auto sink = make_webhook(server.url("/"), /*max_attempts=*/2, /*backoff=*/Duration{10}, /*timeout=*/Duration{150});
  ASSERT_NE(sink, nullptr);
  auto r = sink->send(sample_incident());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(WebhookSink, SecretsAreRedactedFromTheBodyButHeadersStillCarryThem) {
  secrets::clear_for_tests();
  secrets::add("hook-token-123");
  HttpServer server([](const Request&) { return Response{200, ""}; });
  auto sink = make_webhook(server.url("/"));
  ASSERT_NE(sink, nullptr);
  Incident incident = sample_incident();
  incident.experience = "probe sent Authorization: Bearer hook-token-123 and got 500";
  auto r = sink->send(incident);
  secrets::clear_for_tests();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body.find("hook-token-123"), std::string::npos) << reqs[0].body;
  EXPECT_NE(str(parse_object(reqs[0].body), "experience").find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer hook-token-123");
}

TEST(WebhookSink, SecretsNeedingJsonEscapesAreRedactedToo) {
  // Passwords often contain quotes or backslashes. JSON escapes them, so a
  // redaction applied to the serialized text must still not let them through.
  const std::string secret = R"(pa"ss\w0rd)";
  secrets::clear_for_tests();
  secrets::add(secret);
  HttpServer server([](const Request&) { return Response{200, ""}; });
  auto sink = make_webhook(server.url("/"));
  ASSERT_NE(sink, nullptr);
  Incident incident = sample_incident();
  incident.experience = "login with " + secret + " rejected";
  auto r = sink->send(incident);
  secrets::clear_for_tests();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  std::string experience = str(parse_object(reqs[0].body), "experience");
  EXPECT_EQ(experience.find(secret), std::string::npos) << "secret leaked: " << reqs[0].body;
  EXPECT_NE(experience.find("[REDACTED]"), std::string::npos) << reqs[0].body;
}

TEST(FileSink, TwoSendsAppendTwoJsonLines) {
  TempDir dir;
  std::string path = dir.file("incidents.jsonl");
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  Incident opened = sample_incident();
  Incident resolved = opened;
  resolved.event = "resolved";
  resolved.status = "mitigated";
  resolved.actions.push_back("release v42 rolled back");

  auto r1 = sink->send(opened);
  ASSERT_TRUE(r1.has_value()) << r1.error().message;
  EXPECT_EQ(r1->attempts, 1);
  auto r2 = sink->send(resolved);
  ASSERT_TRUE(r2.has_value()) << r2.error().message;

  std::string text = read_text(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  ASSERT_EQ(lines.size(), 2u) << text;
  json::object first = parse_object(lines[0]);
  json::object second = parse_object(lines[1]);
  expect_incident_json(first, opened);
  expect_incident_json(second, resolved);
  EXPECT_EQ(str(first, "event"), "opened");
  EXPECT_EQ(str(second, "event"), "resolved");
  EXPECT_EQ(str(second, "dedup_key"), str(first, "dedup_key"));
}

TEST(FileSink, SecretsAreRedactedIncludingOnesNeedingJsonEscapes) {
  TempDir dir;
  std::string path = dir.file("incidents.jsonl");
  const std::string plain = "plain-secret-value";
  const std::string quoted = R"(pa"ss\w0rd)";
  secrets::clear_for_tests();
  secrets::add(plain);
  secrets::add(quoted);
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  Incident incident = sample_incident();
  incident.experience = "token " + plain + " and password " + quoted;
  auto r = sink->send(incident);
  secrets::clear_for_tests();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::string text = read_text(path);
  std::string experience = str(parse_object(text), "experience");
  EXPECT_EQ(experience.find(plain), std::string::npos) << text;
  EXPECT_EQ(experience.find(quoted), std::string::npos) << "secret leaked: " << text;
}

TEST(FileSink, AppendsToExistingContent) {
  TempDir dir;
  std::string path = dir.file("incidents.jsonl");
  write_text(path, "{\"earlier\":true}\n");
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  ASSERT_TRUE(sink->send(sample_incident()).has_value());
  std::string text = read_text(path);
  EXPECT_TRUE(text.starts_with("{\"earlier\":true}\n")) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(FileSink, UnwritablePathIsError) {
  // The parent "directory" is a regular file: no one, root included, can create it.
  TempDir dir;
  write_text(dir.file("afile"), "x");
  std::string path = dir.file("afile/incidents.jsonl");
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  auto r = sink->send(sample_incident());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
}

TEST(FileSink, CreatesMissingDirectories) {
  TempDir dir;
  std::string path = dir.file("a/b/incidents.jsonl");
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  ASSERT_TRUE(sink->send(sample_incident()).has_value());
  EXPECT_FALSE(read_text(path).empty());
}

TEST(IncidentSinkRegistry, UnknownTypeListsKnownOnes) {
  IncidentSinkRegistry registry;
  register_builtin_incident_sinks(registry);
  auto r = registry.make(IncidentSinkSpec{.name = "x", .type = "pagerduty", .kind = FileSinkSpec{"/tmp/x"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("webhook"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("file"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace dg::test

namespace dg::test {
namespace {

// Another guard appending to the same incident file holds the file's flock
// while it writes and fsyncs its line; ours waits, so a failed write of ours
// can only ever cut back its own bytes, never the other guard's line.
TEST(FileSink, WaitsForAnotherGuardsAppendToTheSameFile) {
  TempDir dir;
  std::string path = dir.file("incidents.jsonl");
  write_text(path, "{\"earlier\":true}\n");
  auto sink = make_sink(IncidentSinkSpec{.name = "log", .type = "file", .kind = FileSinkSpec{path}});
  ASSERT_NE(sink, nullptr);
  auto other = fs::lock_exclusive(path, std::chrono::milliseconds(1000));  // its own open file description
  ASSERT_TRUE(other) << other.error().message;
  auto sent = std::async(std::launch::async, [&] { return sink->send(sample_incident()); });
  ASSERT_EQ(sent.wait_for(300ms), std::future_status::timeout) << "appended while another writer held the lock";
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << "{\"other_guard\":true}\n";
  }
  other = fs::FileLock();
  auto r = sent.get();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::string text = read_text(path);
  EXPECT_TRUE(text.starts_with("{\"earlier\":true}\n{\"other_guard\":true}\n{")) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
}

}  // namespace
}  // namespace dg::test
