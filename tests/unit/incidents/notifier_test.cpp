// The notifier's delivery rails against in-process fake sinks: retries and
// Retry-After arithmetic, the bounded queue (updates dropped, never opened or
// resolved), a sink marked down and up again, sink memory journaled at once,
// and pending deliveries re-queued once after a restart.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/incidents/delivery.h"
#include "agent/incidents/notifier.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

TEST(Delivery, RetryAfterSecondsAndHttpDates) {
  TimePoint now = std::chrono::sys_days{std::chrono::year{2026} / 12 / 1} + 18h;
  EXPECT_EQ(parse_retry_after("3", now), Duration{3000});
  EXPECT_EQ(parse_retry_after(" 0 ", now), Duration{0});
  EXPECT_EQ(parse_retry_after("Tue, 01 Dec 2026 18:00:05 GMT", now), Duration{5000});
  EXPECT_EQ(parse_retry_after("Tuesday, 01-Dec-26 18:00:07 GMT", now), Duration{7000});
  EXPECT_EQ(parse_retry_after("Tue Dec  1 18:00:02 2026", now), Duration{2000});
  EXPECT_EQ(parse_retry_after("Tue, 01 Dec 2026 17:00:00 GMT", now), Duration{0}) << "a past date: now";
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-1", now));
}

TEST(Delivery, BackoffDoublesWithJitterAndNeverUndercutsRetryAfter) {
  RetryPolicy p{.max_attempts = 6, .backoff = Duration{100}, .max_backoff = Duration{1000}};
  std::mt19937 rng{7};
  for (int k = 0; k < 50; ++k) {
    auto d1 = retry_delay(p, 1, std::nullopt, rng), d3 = retry_delay(p, 3, std::nullopt, rng);
    EXPECT_GE(d1.count(), 80);
    EXPECT_LE(d1.count(), 120);
    EXPECT_GE(d3.count(), 320);
    EXPECT_LE(d3.count(), 480);
    EXPECT_LE(retry_delay(p, 10, std::nullopt, rng).count(), 1200) << "capped";
    EXPECT_GE(retry_delay(p, 1, Duration{2000}, rng).count(), 2000) << "Retry-After wins over a shorter backoff";
    EXPECT_LE(retry_delay(p, 1, Duration{600'000}, rng).count(), 66'000) << "a huge Retry-After is capped";
  }
}

TEST(Delivery, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(base64_encode("a@b.c:tok"), "YUBiLmM6dG9r");
  EXPECT_EQ(base64_encode("ab"), "YWI=");
}

TEST(Incident, FailureRatioEveryTimeOrSometimes) {
  std::vector<Observation> obs(4);
  obs[0].outcome = obs[1].outcome = Outcome::Failed;
  obs[2].outcome = Outcome::Passed;
  obs[3].outcome = Outcome::Error;  // could not tell: not counted
  auto r = failure_ratio_of(obs);
  ASSERT_TRUE(r);
  EXPECT_NEAR(*r, 2.0 / 3, 1e-9);
  EXPECT_NE(describe_failure_ratio(r).find("sometimes"), std::string::npos);
  EXPECT_EQ(describe_failure_ratio(1.0), "every time");
  EXPECT_FALSE(failure_ratio_of({}));
  Incident i;
  i.key = "k";
  i.failure_ratio = 0.5;
  i.since = TimePoint{std::chrono::seconds{1'800'000'000}};
  Incident back = incident_from_json(to_json(i));
  EXPECT_EQ(back.failure_ratio, 0.5);
  EXPECT_EQ(back.since, i.since);
}

// Answers from a script: each attempt pops the next result (the last repeats).
class ScriptSink final : public IncidentSink {
 public:
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  std::vector<SinkAttempt> script{delivered("ok")};
  std::vector<std::string> got;  // event:key per attempt
  std::vector<json::object> memories;
  RetryPolicy policy{.max_attempts = 3, .backoff = Duration{5}};
  bool keep_key = false;

  SinkAttempt attempt(const Incident& i, SinkMemory& m) override {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !hold; });
    got.push_back(i.event + ":" + i.key);
    memories.push_back(m.data());
    if (keep_key && m.get("id").empty()) m.keep("id", json::value("ISSUE-" + i.key));
    SinkAttempt a = script.front();
    if (script.size() > 1) script.erase(script.begin());
    return a;
  }
  RetryPolicy retry_policy() const override { return policy; }
  void release() {
    std::lock_guard lock(mu);
    hold = false;
    cv.notify_all();
  }
};

Incident incident(const std::string& event, const std::string& key = "dg-1") {
  Incident i;
  i.event = event;
  i.key = key;
  i.policy = "p";
  i.status = event == "resolved" ? "mitigated" : "mitigating";
  i.title = "wiki: p tripped";
  return i;
}

std::vector<json::object> records(const std::string& path, const std::string& kind_prefix) {
  std::vector<json::object> out;
  for_each_record(path, [&](json::object& r) {
    if (string_at(r, "kind").starts_with(kind_prefix)) out.push_back(r);
    return true;
  });
  return out;
}

struct JournalFixture {
  test::TempDir dir;
  FakeClock clock;
  std::unique_ptr<Journal> journal;
  explicit JournalFixture(const std::string& run = "run-a") { open(run); }
  void open(const std::string& run) {
    journal.reset();
    journal = std::move(*Journal::open(dir.file("journal.jsonl"), clock));
    journal->set_context({"wiki", "prod", "v1", run});
  }
  std::string path() const { return dir.file("journal.jsonl"); }
};

TEST(Notifier, RetriesThenJournalsOneOutcomeWithTheAttempts) {
  JournalFixture f;
  ScriptSink sink;
  sink.script = {retry_later("HTTP 503"), retry_later("HTTP 429", Duration{10}), delivered("HTTP 202")};
  {
    IncidentNotifier n({{"pd", &sink}}, *f.journal);
    n.notify(incident("opened"), {}, false);
    ASSERT_TRUE(n.flush(5s));
  }
  EXPECT_EQ(sink.got.size(), 3u);
  auto out = records(f.path(), "incident_opened");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["data"].as_object()["attempts"], json::value(3));
  EXPECT_EQ(out[0]["data"].as_object()["ok"], json::value(true));
  auto intents = records(f.path(), "incident_intent");
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_TRUE(intents[0]["data"].as_object().contains("incident")) << "the intent carries what to re-send";
}

TEST(Notifier, RejectedIsNotRetried) {
  JournalFixture f;
  ScriptSink sink;
  sink.script = {rejected("HTTP 400: bad (not retried)")};
  {
    IncidentNotifier n({{"pd", &sink}}, *f.journal);
    n.notify(incident("opened"), {}, false);
    ASSERT_TRUE(n.flush(5s));
  }
  EXPECT_EQ(sink.got.size(), 1u);
  auto out = records(f.path(), "incident_opened");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["data"].as_object()["ok"], json::value(false));
}

TEST(Notifier, FullQueueDropsTheOldestUpdateNeverOpenedOrResolved) {
  JournalFixture f;
  ScriptSink sink;
  sink.hold = true;
  std::vector<std::string> lines;
  std::mutex lines_mu;
  NotifierOptions o;
  o.max_queue = 3;
  o.log = [&](const std::string& l) {
    std::lock_guard lock(lines_mu);
    lines.push_back(l);
  };
  {
    IncidentNotifier n({{"s", &sink}}, *f.journal, o);
    n.notify(incident("opened", "a"), {}, false);  // taken by the worker, held
    // Wait until the worker holds it, so the queue below is what it is.
    for (int k = 0; k < 500 && [&] { std::lock_guard l(sink.mu); return true; }() && n.flush(Duration{0}); ++k)
      std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);
    n.notify(incident("updated", "a"), {}, false);
    n.notify(incident("opened", "b"), {}, false);
    n.notify(incident("updated", "b"), {}, false);
    n.notify(incident("updated", "a"), {}, false);   // full: the oldest update (a) goes
    n.notify(incident("resolved", "a"), {}, false);  // full: makes room by dropping updated:b
    n.notify(incident("resolved", "b"), {}, false);  // full: drops the last update (a)
    n.notify(incident("opened", "c"), {}, false);    // full of opened/resolved: goes over the bound
    sink.release();
    ASSERT_TRUE(n.flush(5s));
  }
  std::vector<std::string> want = {"opened:a", "opened:b", "resolved:a", "resolved:b", "opened:c"};
  EXPECT_EQ(sink.got, want);
  int dropped = 0;
  for (auto& r : records(f.path(), "incident_updated"))
    if (r["data"].as_object().contains("dropped")) ++dropped;
  EXPECT_EQ(dropped, 3) << "every update, oldest first; no opened or resolved";
  EXPECT_FALSE(lines.empty());
}

TEST(Notifier, ASinkThatKeepsFailingIsMarkedDownThenUpWithoutBlockingOthers) {
  JournalFixture f;
  ScriptSink bad, good;
  bad.script = {retry_later("HTTP 500"), retry_later("HTTP 500"), retry_later("HTTP 500"), retry_later("HTTP 500"),
                retry_later("HTTP 500"), retry_later("HTTP 500"), retry_later("HTTP 500"), delivered("HTTP 202")};
  std::vector<std::pair<std::string, bool>> states;
  std::mutex mu;
  NotifierOptions o;
  o.down_after = 2;
  o.on_sink_state = [&](const std::string& s, bool down) {
    std::lock_guard lock(mu);
    states.emplace_back(s, down);
  };
  {
    IncidentNotifier n({{"bad", &bad}, {"good", &good}}, *f.journal, o);
    n.notify(incident("opened", "1"), {}, false);   // 3 attempts, fails
    n.notify(incident("updated", "1"), {}, false);  // 3 attempts, fails: down
    ASSERT_TRUE(n.flush(5s));
    EXPECT_EQ(n.down_sinks(), std::vector<std::string>{"bad"});
    n.notify(incident("updated", "2"), {}, false);  // down: one attempt, fails
    n.notify(incident("opened", "3"), {}, false);   // one attempt: works, up again
    ASSERT_TRUE(n.flush(5s));
    EXPECT_TRUE(n.down_sinks().empty());
    EXPECT_NE(n.delivery_report()[0].find("FAILED"), std::string::npos);
  }
  EXPECT_EQ(bad.got.size(), 8u) << "3 + 3 + 1 (down) + 1";
  EXPECT_EQ(good.got.size(), 4u);
  std::vector<std::pair<std::string, bool>> want = {{"bad", true}, {"bad", false}};
  EXPECT_EQ(states, want);
  EXPECT_EQ(records(f.path(), "incident_sink_down").size(), 1u);
  EXPECT_EQ(records(f.path(), "incident_sink_up").size(), 1u);
}

TEST(Notifier, MemoryIsJournaledAtOnceAndGivenBackOnRetryAndRestart) {
  JournalFixture f;
  ScriptSink sink;
  sink.keep_key = true;
  sink.script = {retry_later("HTTP 500 after create"), delivered("ok")};
  {
    IncidentNotifier n({{"jira", &sink}}, *f.journal);
    n.notify(incident("opened"), {}, false);
    ASSERT_TRUE(n.flush(5s));
  }
  ASSERT_EQ(sink.memories.size(), 2u);
  EXPECT_TRUE(sink.memories[0].empty());
  EXPECT_EQ(string_at(sink.memories[1], "id"), "ISSUE-dg-1") << "the retry sees what the first attempt kept";
  EXPECT_EQ(records(f.path(), "incident_remember").size(), 1u);
  // A restart: a new notifier learns it from the journal.
  f.open("run-b");
  ScriptSink again;
  IncidentNotifier n({{"jira", &again}}, *f.journal);
  auto r = resume_deliveries(n, f.path(), "run-b");
  EXPECT_EQ(r.requeued, 0);
  EXPECT_EQ(r.remembered, 1);
  n.notify(incident("resolved"), {}, false);
  ASSERT_TRUE(n.flush(5s));
  ASSERT_EQ(again.memories.size(), 1u);
  EXPECT_EQ(string_at(again.memories[0], "id"), "ISSUE-dg-1");
}

TEST(Notifier, PendingDeliveriesAreRequeuedOnceAfterARestart) {
  JournalFixture f;
  {
    ScriptSink stuck;
    stuck.script = {retry_later("HTTP 503")};
    stuck.policy = RetryPolicy{.max_attempts = 5, .backoff = Duration{60'000}};  // stops while waiting
    IncidentNotifier n({{"pd", &stuck}}, *f.journal);
    n.notify(incident("opened"), {}, false);
    n.notify(incident("updated"), {}, false);
    std::this_thread::sleep_for(50ms);
  }  // stopped with both pending: no outcome journaled
  EXPECT_EQ(records(f.path(), "incident_opened").size(), 0u);
  EXPECT_EQ(records(f.path(), "incident_deliveries_pending").size(), 1u);
  {
    // A dry run sends nothing, not even what is owed.
    f.open("run-dry");
    ScriptSink dry;
    IncidentNotifier n({{"pd", &dry}}, *f.journal);
    EXPECT_EQ(resume_deliveries(n, f.path(), "run-dry", /*dry_run=*/true).requeued, 0);
    ASSERT_TRUE(n.flush(1s));
    EXPECT_TRUE(dry.got.empty());
  }
  f.open("run-b");
  ScriptSink sink;
  {
    IncidentNotifier n({{"pd", &sink}}, *f.journal);
    auto r = resume_deliveries(n, f.path(), "run-b");
    EXPECT_EQ(r.requeued, 2);
    ASSERT_TRUE(n.flush(5s));
  }
  std::vector<std::string> want = {"opened:dg-1", "updated:dg-1"};
  EXPECT_EQ(sink.got, want);
  EXPECT_EQ(records(f.path(), "incident_requeued").size(), 2u);
  // Delivered now: a third start sends nothing again.
  f.open("run-c");
  ScriptSink third;
  IncidentNotifier n({{"pd", &third}}, *f.journal);
  EXPECT_EQ(resume_deliveries(n, f.path(), "run-c").requeued, 0);
  ASSERT_TRUE(n.flush(1s));
  EXPECT_TRUE(third.got.empty());
}

TEST(Secrets, FileReferenceIsReadTrimmedAndRedacted) {
  secrets::clear_for_tests();
  test::TempDir dir;
  std::string path = dir.write("token", "s3cr3t-from-file\n");
  auto v = secrets::resolve("file:" + path);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, "s3cr3t-from-file");
  EXPECT_EQ(secrets::redact("key=s3cr3t-from-file"), "key=[REDACTED]");
  auto missing = secrets::resolve("file:" + dir.file("nope"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read secret file"), std::string::npos);
  // A short one (at kMinLength) is still a secret.
  std::string shorty = dir.write("short", "q7z");
  ASSERT_TRUE(secrets::resolve("file:" + shorty));
  EXPECT_EQ(secrets::redact("token q7z here"), "token [REDACTED] here");
  secrets::clear_for_tests();
}

}  // namespace
}  // namespace dg
