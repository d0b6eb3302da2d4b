// The review model from fake journals built here: which records make an
// incident, its times (the engine's own when journaled, else record times),
// its actions in order with their outcomes and evidence, impact, and the
// renderers' sections, escaping and proof.
#include "agent/review/review.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/core/text.h"

namespace dg::review {
namespace {

namespace json = boost::json;

// A journal built record by record: seq counts up, time is T0 + ms.
class FakeJournal {
 public:
  static constexpr const char* kT0 = "2026-11-02T10:00:00.000Z";
  std::string at(long long ms) const {
    return text::rfc3339(*text::parse_rfc3339(kT0) + std::chrono::milliseconds(ms));
  }
  FakeJournal& add(long long ms, std::string kind, json::object data, std::string policy = "", std::string run = "r1") {
    json::object r{{"seq", ++seq_},         {"time", at(ms)}, {"kind", kind}, {"service", "wiki"},
                   {"environment", "prod"}, {"release", "2"}, {"run", run}};
    if (!policy.empty()) r["policy"] = policy;
    r["data"] = std::move(data);
    r["hash"] = "h" + std::to_string(seq_);
    records_.push_back(std::move(r));
    return *this;
  }
  Model model() const {
    ReviewBuilder b;
    for (const auto& r : records_) b.add(r);
    Model m = b.finish();
    m.journal = "journal.jsonl";
    return m;
  }
  long long seq() const { return seq_; }

 private:
  long long seq_ = 0;
  std::vector<json::object> records_;
};

json::object obs(const FakeJournal& j, std::string probe, long long ms, std::string outcome) {
  return {{"probe", probe}, {"at", j.at(ms)}, {"outcome", outcome}, {"latency_ms", 2}, {"detail", outcome + " detail"}};
}

json::object tripped(const FakeJournal& j, std::string key, long long since_ms, json::array evidence) {
  return {
      {"reasons", json::array{"probe editor: 3 consecutive failures"}},
      {"probe", "editor"},
      {"since", j.at(since_ms)},
      {"dry_run", false},
      {"release", "2"},
      {"evidence", std::move(evidence)},
      {"incident", {{"key", key}, {"affected", "tenants with zero plugins"}, {"experience", "the editor is empty"}}}};
}

// verify: bake starts at 0, trip at 1000, flip, recovered at 2500.
FakeJournal mitigated_journal() {
  FakeJournal j;
  j.add(0, "config_loaded", {{"files", json::array{}}});
  j.add(0, "verify_started", {{"bake_ms", 20000}});
  j.add(1000, "policy_tripped",
        tripped(j, "dg-one", 10,
                {obs(j, "editor", 10, "failed"), obs(j, "editor", 500, "failed"), obs(j, "editor", 990, "failed"),
                 obs(j, "other", 20, "passed"), obs(j, "other", 520, "passed")}),
        "p");
  j.add(1001, "action_intent",
        {{"action", "flag"},
         {"step", 1},
         {"provider", "flags"},
         {"flag", "framework"},
         {"variant", "off"},
         {"segment", "pluginCount == 0"}},
        "p");
  j.add(1002, "action_outcome",
        {{"action", "flag"},
         {"step", 1},
         {"flag", "framework"},
         {"ok", true},
         {"changed", true},
         {"detail", "wrote flags.json"}},
        "p");
  j.add(1003, "incident_intent", {{"sink", "log"}, {"key", "dg-one"}, {"event", "opened"}}, "p");
  j.add(1004, "incident_opened", {{"sink", "log"}, {"key", "dg-one"}, {"status", "mitigating"}, {"ok", true}}, "p");
  j.add(2500, "verification", {{"step", 1}, {"result", "recovered"}, {"reasons", json::array{"3 consecutive passes"}}},
        "p");
  j.add(2500, "policy_recovered", {{"step", 1}, {"time_to_detect_ms", 999}, {"time_to_mitigate_ms", 2498}}, "p");
  j.add(2501, "incident_resolved", {{"sink", "log"}, {"key", "dg-one"}, {"status", "mitigated"}, {"ok", true}}, "p");
  j.add(2502, "verify_finished", {{"exit_code", 1}});
  return j;
}

TEST(ReviewModel, AMitigatedTripWithTheEnginesOwnTimes) {
  FakeJournal j = mitigated_journal();
  Model m = j.model();
  ASSERT_EQ(m.incidents.size(), 1u);
  const Incident& i = m.incidents[0];
  EXPECT_EQ(i.key, "dg-one");
  EXPECT_EQ(i.policy, "p");
  EXPECT_EQ(i.state, "mitigated");
  EXPECT_EQ(i.times_from, "policy_recovered");
  EXPECT_EQ(i.ttd_ms, 999);  // the engine's, not the record times' 1000
  EXPECT_EQ(i.ttm_ms, 2498);
  EXPECT_EQ(i.ttd_first_failure_ms, 990);
  EXPECT_EQ(i.impact_ms, 2490);
  EXPECT_FALSE(i.impact_ongoing);
  EXPECT_EQ(i.release_started, j.at(0));
  EXPECT_EQ(i.scope, "tenants with zero plugins");
  EXPECT_EQ(i.experience, "the editor is empty");
  EXPECT_EQ(i.frequency, "every time");
  ASSERT_EQ(i.signals.size(), 2u);
  EXPECT_EQ(i.signals[0].signal, "editor");
  EXPECT_EQ(i.signals[0].failed, 3);
  EXPECT_EQ(i.signals[1].failed, 0);
  EXPECT_EQ(i.signals[1].judged, 2);
  EXPECT_EQ(i.segments, std::vector<std::string>{"pluginCount == 0"});
  ASSERT_EQ(i.actions.size(), 1u);
  EXPECT_EQ(i.actions[0].outcome, "applied");
  EXPECT_EQ(i.actions[0].detail, "wrote flags.json");
  EXPECT_EQ(i.actions[0].intent_seq, 4);
  EXPECT_EQ(i.actions[0].outcome_seq, 5);
  EXPECT_EQ(i.actions[0].after_trip_ms, 2);
  EXPECT_NE(i.actions[0].evidence.find("recovered: 3 consecutive passes"), std::string::npos);
  // The incident ends with its last sink event; the journal's head is later.
  EXPECT_EQ(i.last_seq, 10);
  EXPECT_EQ(i.last_hash, "h10");
  EXPECT_EQ(m.head_seq, 11);
  EXPECT_EQ(m.records, 11);
  // Timeline: the release, the first failing observation, then records in order; no incident_intent.
  ASSERT_GE(i.timeline.size(), 4u);
  EXPECT_EQ(i.timeline[0].category, "release");
  EXPECT_EQ(i.timeline[0].seq, 2);
  EXPECT_EQ(i.timeline[1].category, "signal");
  EXPECT_EQ(i.timeline[1].seq, 0);
  EXPECT_EQ(i.timeline[2].kind, "policy_tripped");
  for (size_t k = 1; k < i.timeline.size(); ++k) EXPECT_LE(i.timeline[k - 1].at, i.timeline[k].at);
  for (const auto& e : i.timeline) EXPECT_NE(e.kind, "incident_intent");
}

TEST(ReviewModel, AFailedLadderCountsFromRecordTimesAndKeepsEveryActionInOrder) {
  FakeJournal j;
  j.add(0, "verify_started", {});
  j.add(1500, "policy_tripped",
        tripped(j, "dg-two", 300,
                {obs(j, "editor", 300, "failed"), obs(j, "editor", 700, "passed"), obs(j, "editor", 900, "failed"),
                 obs(j, "editor", 1400, "failed")}),
        "p");
  j.add(1501, "action_intent", {{"action", "flag"}, {"step", 1}, {"flag", "f"}, {"variant", "off"}}, "p");
  j.add(1502, "action_outcome", {{"action", "flag"}, {"step", 1}, {"ok", true}, {"changed", true}}, "p");
  j.add(2600, "verification", {{"step", 1}, {"result", "still_failing"}, {"reasons", json::array{"still failing"}}},
        "p");
  j.add(2601, "action_intent", {{"action", "undo_flag"}, {"step", 1}, {"flag", "f"}}, "p");
  j.add(2602, "action_outcome", {{"action", "undo_flag"}, {"step", 1}, {"ok", true}, {"changed", true}}, "p");
  j.add(2603, "escalated", {{"from_step", 1}, {"to_step", 2}, {"to", "run rollback prev"}}, "p");
  j.add(2603, "action_delayed",
        {{"action", "rollback"},
         {"step", 2},
         {"rollback", "prev"},
         {"reason", "confirm"},
         {"until", j.at(2650)},
         {"detail", "waiting for a veto"}},
        "p");
  j.add(2603, "rollback_approved", {{"step", 2}, {"rollback", "prev"}, {"by", "oncall"}, {"reason", "go"}}, "p");
  j.add(2604, "action_intent", {{"action", "rollback"}, {"step", 2}, {"rollback", "prev"}}, "p");
  j.add(2700, "action_outcome",
        {{"action", "rollback"},
         {"step", 2},
         {"ok", false},
         {"exit_code", 7},
         {"timed_out", false},
         {"output", "rollback broke\n"}},
        "p");
  j.add(2701, "mitigation_failed", {{"reason", "no step of the ladder recovered users"}}, "p");
  Model m = j.model();
  ASSERT_EQ(m.incidents.size(), 1u);
  const Incident& i = m.incidents[0];
  EXPECT_EQ(i.state, "mitigation_failed");
  EXPECT_EQ(i.times_from, "record times");
  EXPECT_EQ(i.ttd_ms, 1500);
  EXPECT_FALSE(i.ttm_ms);
  EXPECT_TRUE(i.impact_ongoing);
  EXPECT_EQ(i.impact_ms, 2401);  // first failure (300) to the last record (2701), a lower bound
  EXPECT_EQ(i.frequency, "sometimes");
  ASSERT_EQ(i.actions.size(), 3u);
  EXPECT_EQ(i.actions[0].action, "flag");
  EXPECT_EQ(i.actions[0].intent, "set flag f to 'off' for everyone");
  EXPECT_NE(i.actions[0].evidence.find("still_failing"), std::string::npos);
  EXPECT_EQ(i.actions[1].action, "undo_flag");
  EXPECT_TRUE(i.actions[1].evidence.empty()) << "a verification belongs to the step's action, not its undo";
  EXPECT_EQ(i.actions[2].action, "rollback");
  EXPECT_EQ(i.actions[2].outcome, "failed");
  EXPECT_EQ(i.actions[2].detail, "exit code 7: rollback broke");
  bool held = false, approved = false;
  for (const auto& e : i.timeline) {
    held |= e.text.find("rollback prev held until") != std::string::npos;
    approved |= e.category == "people" && e.text.find("approved by oncall: go") != std::string::npos;
  }
  EXPECT_TRUE(held);
  EXPECT_TRUE(approved);

  std::string md = render_markdown(m);
  EXPECT_NE(md.find("| Time to detect | 1.500 s (1500 ms) from the release start; 1.200 s (1200 ms) from the first "
                    "failing observation |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| Time to mitigate | not mitigated |"), std::string::npos);
  EXPECT_NE(md.find("NOT mitigated"), std::string::npos);
  // Each action once, in order, in the response table.
  auto a = md.find("| 1 | 1 | set flag f"), b = md.find("| 2 | 1 | restore flag f"),
       c = md.find("| 3 | 2 | run rollback prev");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  std::string response =
      md.substr(md.find("# Response and recovery"), md.find("# Timeline") - md.find("# Response and recovery"));
  EXPECT_EQ(response.find("| 4 |"), std::string::npos) << response;
}

TEST(ReviewModel, AnAlarmRaisedByHandAndPressedTwiceIsOneIncident) {
  FakeJournal j;
  j.add(0, "config_loaded", {{"mode", "watch"}}, "", "w1");
  j.add(4000, "release_started", {{"service", "wiki"}, {"release", "2"}, {"policies", json::array{"p"}}}, "", "w1");
  j.add(9000, "alarm_raised",
        {{"who", "carol"},
         {"reason", "editor empty"},
         {"scope", "tenant acme"},
         {"service", "wiki"},
         {"incident", "dg-alarm"},
         {"updated", false}},
        "", "w1");
  j.add(9001, "incident_opened", {{"sink", "log"}, {"key", "dg-alarm"}, {"status", "investigating"}, {"ok", true}}, "",
        "w1");
  j.add(9500, "alarm_raised",
        {{"who", "dave"},
         {"reason", "still empty"},
         {"scope", "tenant acme"},
         {"service", "wiki"},
         {"incident", "dg-alarm"},
         {"updated", true}},
        "", "w1");
  j.add(9501, "incident_updated",
        {{"sink", "log"}, {"key", "dg-alarm"}, {"status", "investigating"}, {"ok", false}, {"error", "HTTP 500"}}, "",
        "w1");
  Model m = j.model();
  ASSERT_EQ(m.incidents.size(), 1u);
  const Incident& i = m.incidents[0];
  EXPECT_TRUE(i.alarm);
  EXPECT_EQ(i.raised_by, "carol");
  EXPECT_EQ(i.state, "open");
  EXPECT_EQ(i.signal, "alarm");
  EXPECT_EQ(i.scope, "tenant acme");
  EXPECT_EQ(i.ttd_ms, 5000) << "from the release's announcement, not the watcher's start";
  EXPECT_FALSE(i.ttm_ms);
  int alarms = 0;
  for (const auto& e : i.timeline) alarms += e.category == "alarm";
  EXPECT_EQ(alarms, 2);
  EXPECT_NE(i.timeline.back().text.find("NOT delivered"), std::string::npos);
}

TEST(ReviewModel, AnAlarmWithAPolicyStartsItsLadderUnderOneIncident) {
  FakeJournal j;
  j.add(0, "config_loaded", {{"mode", "watch"}}, "", "w1");
  j.add(3000, "alarm_raised", {{"who", "erin"}, {"reason", "checkout broken"}, {"scope", "eu"}, {"service", "wiki"}},
        "p", "w1");
  j.add(3000, "policy_tripped", tripped(j, "dg-pol", 3000, {}), "p", "w1");
  Model m = j.model();
  ASSERT_EQ(m.incidents.size(), 1u);
  EXPECT_TRUE(m.incidents[0].alarm);
  EXPECT_EQ(m.incidents[0].raised_by, "erin");
  EXPECT_EQ(m.incidents[0].scope, "eu");
  EXPECT_EQ(m.incidents[0].ttd_ms, 3000) << "no release announced: from the watcher's start";
}

TEST(ReviewModel, RecordsGoToTheIncidentOfTheirPolicysLatestTrip) {
  FakeJournal j;
  j.add(0, "verify_started", {});
  j.add(100, "policy_tripped", tripped(j, "dg-a", 50, {}), "p");
  j.add(101, "action_intent", {{"action", "flag"}, {"step", 1}}, "p");
  j.add(200, "policy_tripped", tripped(j, "dg-b", 150, {}), "q");
  j.add(201, "action_intent", {{"action", "rollback"}, {"step", 1}, {"rollback", "rb"}}, "q");
  j.add(250, "mitigation_lifting", {{"who", "ci"}}, "p");
  j.add(251, "action_intent", {{"action", "undo_flag"}, {"step", 1}, {"flag", "f"}}, "p");
  j.add(300, "mitigation_lifted", {}, "p");
  j.add(400, "policy_tripped", tripped(j, "dg-c", 350, {}), "p");
  j.add(401, "action_intent", {{"action", "flag"}, {"step", 1}}, "p");
  j.add(402, "action_intent", {{"action", "flag"}, {"step", 1}, {"attempt", 2}}, "p");
  Model m = j.model();
  ASSERT_EQ(m.incidents.size(), 3u);
  ASSERT_EQ(m.incidents[0].actions.size(), 2u);
  EXPECT_NE(m.incidents[0].actions[1].intent.find("the fix shipped"), std::string::npos)
      << m.incidents[0].actions[1].intent;
  EXPECT_EQ(m.incidents[0].state, "fixed");
  EXPECT_EQ(m.incidents[1].actions.size(), 1u);
  EXPECT_EQ(m.incidents[1].actions[0].action, "rollback");
  ASSERT_EQ(m.incidents[2].actions.size(), 2u);
  EXPECT_NE(m.incidents[2].actions[1].intent.find("(attempt 2)"), std::string::npos);
  EXPECT_EQ(m.incidents[2].actions[1].outcome, "no outcome journaled");

  EXPECT_EQ(select(m, {.incident = "dg-b"}).incidents.size(), 1u);
  EXPECT_EQ(select(m, {.incident = "dg-nope"}).incidents.size(), 0u);
  auto since = text::parse_rfc3339(j.at(200));
  Model later = select(m, {.since = since});
  ASSERT_EQ(later.incidents.size(), 2u);
  EXPECT_EQ(later.incidents[0].key, "dg-b");
}

TEST(ReviewRender, SectionsProofAndEscaping) {
  FakeJournal j = mitigated_journal();
  j.add(
      3000, "policy_tripped",
      [&] {
        auto d = tripped(j, "dg-xss", 2900, {});
        d["reasons"] = json::array{"<script>alert(1)</script> | broke"};
        return d;
      }(),
      "p");
  Model m = j.model();
  m.chain = "verified, 12 record(s)";
  std::string md = render_markdown(m), html = render_html(m);
  for (const char* s : {"## Summary", "## Impact", "## Detection", "## Response and recovery", "## Timeline",
                        "## Proof", "## Contributing factors", "## Lessons learned", "## Corrective actions"})
    EXPECT_NE(md.find(s), std::string::npos) << s;
  EXPECT_NE(md.find("journal head 12:h12"), std::string::npos);
  EXPECT_NE(md.find("--head 12:h12"), std::string::npos);
  EXPECT_NE(md.find("chain: verified"), std::string::npos);
  EXPECT_EQ(md.find("<script>"), std::string::npos);
  EXPECT_NE(md.find("\\| broke"), std::string::npos) << "a | in text must not break a table";
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_NE(html.find("<style>" + html_style() + "</style>"), std::string::npos)
      << "the CSP hash covers this exact text";
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));

  Model none = select(m, {.incident = "dg-none"});
  EXPECT_NE(render_markdown(none).find("No incident"), std::string::npos);
}

TEST(ReviewText, HumanDurationsAndSince) {
  EXPECT_EQ(human_ms(1002), "1.002 s");
  EXPECT_EQ(human_ms(184'500), "3 min 4.5 s");
  EXPECT_EQ(human_ms(7'500'000), "2 h 5 min");
  TimePoint now = *text::parse_rfc3339("2026-11-10T12:00:00.000Z");
  EXPECT_EQ(parse_since("2026-11-01T00:00:00Z", now), text::parse_rfc3339("2026-11-01T00:00:00.000Z"));
  EXPECT_EQ(parse_since("2026-11-01T02:30:00+02:30", now), text::parse_rfc3339("2026-11-01T00:00:00.000Z"));
  EXPECT_EQ(parse_since("2026-10-31T19:00:00-05:00", now), text::parse_rfc3339("2026-11-01T00:00:00.000Z"));
  EXPECT_EQ(parse_since("2026-11-01", now), text::parse_rfc3339("2026-11-01T00:00:00.000Z"));
  EXPECT_EQ(parse_since("36h", now), text::parse_rfc3339("2026-11-09T00:00:00.000Z"));
  EXPECT_EQ(parse_since("7d", now), text::parse_rfc3339("2026-11-03T12:00:00.000Z"));
  EXPECT_EQ(parse_since("90m", now), text::parse_rfc3339("2026-11-10T10:30:00.000Z"));
  EXPECT_FALSE(parse_since("yesterday", now));
  EXPECT_FALSE(parse_since("7w", now));
  EXPECT_FALSE(parse_since("", now));
}

}  // namespace
}  // namespace dg::review
