// The evaluator is pure: tables of (policy, history) -> verdict.
#include <gtest/gtest.h>

#include "policies/evaluator.h"

namespace dg {
namespace {

using O = Outcome;
const TimePoint kT0{std::chrono::seconds{1'800'000'000}};

std::vector<Observation> seq(const std::string& probe, const std::vector<O>& outcomes) {
  std::vector<Observation> out;
  int i = 0;
  for (O o : outcomes)
    out.push_back(Observation{.signal = probe, .at = kT0 + std::chrono::seconds(i++), .outcome = o,
                              .detail = std::string(to_string(o)) + " #" + std::to_string(i)});
  return out;
}

PolicySpec policy(int consecutive = 3) {
  PolicySpec p;
  p.name = "p";
  p.probes = {"a"};
  p.consecutive_failures = consecutive;
  p.max_consecutive_errors = 3;
  p.min_observations = 3;
  return p;
}

struct Case {
  const char* name;
  PolicySpec policy;
  std::vector<O> history;
  Phase phase;
  VerdictState want;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class EvaluatorTable : public ::testing::TestWithParam<Case> {};

TEST_P(EvaluatorTable, Verdict) {
  const Case& c = GetParam();
  History h{{"a", seq("a", c.history)}};
  Verdict v = evaluate(c.policy, h, c.phase);
  EXPECT_EQ(to_string(v.state), std::string(to_string(c.want))) << c.name;
  EXPECT_FALSE(v.reasons.empty()) << "every verdict says why";
}

PolicySpec window(int k, int n) {
  PolicySpec p = policy(0);
  p.window_failures = k;
  p.window_runs = n;
  return p;
}
PolicySpec errors_trip() {
  PolicySpec p = policy();
  p.on_errors = OnErrors::Trip;
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Table, EvaluatorTable,
    ::testing::Values(
        Case{"all passed", policy(), {O::Passed, O::Passed, O::Passed}, Phase::Final, VerdictState::Healthy},
        Case{"three failures trip", policy(), {O::Passed, O::Failed, O::Failed, O::Failed}, Phase::Ongoing,
             VerdictState::Tripped},
        Case{"two failures do not", policy(), {O::Failed, O::Failed, O::Passed, O::Failed, O::Failed}, Phase::Ongoing,
             VerdictState::Healthy},
        Case{"errors do not break a failure streak", policy(), {O::Failed, O::Error, O::Failed, O::Failed},
             Phase::Ongoing, VerdictState::Tripped},
        Case{"errors do not count as failures", policy(), {O::Failed, O::Error, O::Error, O::Failed, O::Passed},
             Phase::Ongoing, VerdictState::Healthy},
        Case{"error limit: cannot judge", policy(), {O::Passed, O::Error, O::Error, O::Error}, Phase::Ongoing,
             VerdictState::Inconclusive},
        Case{"error limit with on_errors=trip", errors_trip(), {O::Error, O::Error, O::Error}, Phase::Ongoing,
             VerdictState::Tripped},
        Case{"errors below the limit are fine mid-bake", policy(), {O::Passed, O::Error, O::Error}, Phase::Ongoing,
             VerdictState::Healthy},
        Case{"too few judged observations at the end", policy(), {O::Passed, O::Passed, O::Error}, Phase::Final,
             VerdictState::Inconclusive},
        Case{"no observations at all is never healthy", policy(), {}, Phase::Final, VerdictState::Inconclusive},
        Case{"no observations mid-bake is not yet a verdict", policy(), {}, Phase::Ongoing, VerdictState::Healthy},
        Case{"recovered errors then enough passes", policy(), {O::Error, O::Error, O::Passed, O::Passed, O::Passed},
             Phase::Final, VerdictState::Healthy},
        Case{"k of n window trips", window(2, 4), {O::Failed, O::Passed, O::Failed, O::Passed}, Phase::Ongoing,
             VerdictState::Tripped},
        Case{"k of n window: old failures slide out", window(2, 4),
             {O::Failed, O::Failed, O::Passed, O::Passed, O::Passed, O::Failed}, Phase::Ongoing, VerdictState::Healthy},
        Case{"consecutive rule off: streak alone does not trip", window(5, 10), {O::Failed, O::Failed, O::Failed},
             Phase::Ongoing, VerdictState::Healthy}));

TEST(Evaluator, TripCarriesEvidenceAndSince) {
  History h{{"a", seq("a", {O::Passed, O::Failed, O::Failed, O::Failed})}};
  Verdict v = evaluate(policy(), h, Phase::Ongoing);
  ASSERT_EQ(v.state, VerdictState::Tripped);
  EXPECT_EQ(v.probe, "a");
  ASSERT_EQ(v.evidence.size(), 3u);
  EXPECT_EQ(v.since, kT0 + std::chrono::seconds(1));
  EXPECT_NE(v.reasons[0].find("3 consecutive failures"), std::string::npos);
  EXPECT_NE(v.reasons[0].find("failed #4"), std::string::npos) << "the last failure's detail is quoted";
}

TEST(Evaluator, AnyProbeTrips_TripOutranksCannotJudge) {
  PolicySpec p = policy();
  p.probes = {"a", "b"};
  History h{{"a", seq("a", {O::Error, O::Error, O::Error})}, {"b", seq("b", {O::Failed, O::Failed, O::Failed})}};
  Verdict v = evaluate(p, h, Phase::Ongoing);
  EXPECT_EQ(v.state, VerdictState::Tripped);
  EXPECT_EQ(v.probe, "b");
}

TEST(Evaluator, MissingProbeHistoryIsInconclusiveAtTheEnd) {
  PolicySpec p = policy();
  p.probes = {"a", "b"};
  History h{{"a", seq("a", {O::Passed, O::Passed, O::Passed})}};
  Verdict v = evaluate(p, h, Phase::Final);
  EXPECT_EQ(v.state, VerdictState::Inconclusive);
  EXPECT_NE(v.reasons[0].find("probe b"), std::string::npos);
}

TEST(Recovery, NeedsConsecutivePassesOnEveryProbe) {
  PolicySpec p = policy();
  p.probes = {"a", "b"};
  p.recovery_passes = 2;
  History fresh{{"a", seq("a", {O::Passed, O::Passed})}, {"b", seq("b", {O::Passed})}};
  EXPECT_EQ(evaluate_recovery(p, fresh).state, RecoveryState::Pending);
  fresh["b"] = seq("b", {O::Failed, O::Passed, O::Passed});
  EXPECT_EQ(evaluate_recovery(p, fresh).state, RecoveryState::Recovered);
}

TEST(Recovery, FailingAgainUnderTheTripRuleIsStillFailing) {
  PolicySpec p = policy();
  Recovery r = evaluate_recovery(p, History{{"a", seq("a", {O::Failed, O::Failed, O::Failed})}});
  EXPECT_EQ(r.state, RecoveryState::StillFailing);
  EXPECT_FALSE(r.evidence.empty());
}

TEST(Recovery, ErrorsNeverConfirmRecovery) {
  PolicySpec p = policy();
  p.recovery_passes = 1;
  EXPECT_EQ(evaluate_recovery(p, History{{"a", seq("a", {O::Passed, O::Error})}}).state, RecoveryState::Pending);
}

// A canary condition read after the action (counts start again there).
MetricHistory canary_after(const std::string& id, double e1, double n1, double e0, double n0) {
  MetricReading r{.signal = id, .at = kT0, .status = ReadingStatus::Ok,
                  .series = {{{{"arm", "canary"}, {"kind", "errors"}}, e1}, {{{"arm", "canary"}, {"kind", "total"}}, n1},
                             {{{"arm", "baseline"}, {"kind", "errors"}}, e0}, {{{"arm", "baseline"}, {"kind", "total"}}, n0}}};
  return {{id, {r}}};
}

PolicySpec with_canary(Combine combine) {
  PolicySpec p = policy();
  p.recovery_passes = 2;
  p.combine = combine;
  MetricCondition c;
  c.id = "p/canary";
  c.kind = MetricCondition::Kind::Canary;
  c.alpha = 0.01;
  p.metrics.push_back(c);
  return p;
}

TEST(Recovery, ACanaryThatStillTripsRefutesTheStepAtOnce) {
  PolicySpec p = with_canary(Combine::Any);
  History passing{{"a", seq("a", {O::Passed, O::Passed})}};
  Recovery r = evaluate_recovery(p, passing, canary_after("p/canary", 60, 2000, 10, 2000));
  EXPECT_EQ(r.state, RecoveryState::StillFailing);
}

TEST(Recovery, APendingCanaryFollowsCombine) {
  History passing{{"a", seq("a", {O::Passed, O::Passed})}};
  MetricHistory twice = canary_after("p/canary", 10, 500, 5, 500);  // 2x on 1 %: no trip, no evidence of health
  // any: every part must recover; the pending canary holds the policy pending.
  EXPECT_EQ(evaluate_recovery(with_canary(Combine::Any), passing, twice).state, RecoveryState::Pending);
  // all: the policy trips only when every part does; recovered probes suffice.
  EXPECT_EQ(evaluate_recovery(with_canary(Combine::All), passing, twice).state, RecoveryState::Recovered);
  // Alone, a pending canary never confirms recovery.
  PolicySpec alone = with_canary(Combine::Any);
  alone.probes.clear();
  EXPECT_EQ(evaluate_recovery(alone, {}, twice).state, RecoveryState::Pending);
  EXPECT_EQ(evaluate_recovery(alone, {}, canary_after("p/canary", 40, 4000, 40, 4000)).state, RecoveryState::Recovered);
}

}  // namespace
}  // namespace dg
