// Metric conditions judged on hand-built readings at fixed times (no clock,
// no sleeping): thresholds held for a duration, no data, source errors,
// increase over a pre-release baseline, the canary sequential test, and how
// a metric condition combines with a probe rule.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "policies/canary_test.h"
#include "policies/evaluator.h"
#include "policies/metric_evaluator.h"

namespace dg {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0{std::chrono::seconds{1'800'000'000}};
const std::string kId = "p/errors";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
std::string state(VerdictState s) { return to_string(s); }
std::string state(RecoveryState s) { return to_string(s); }

MetricReading ok(int at_s, std::vector<SeriesValue> series, const std::string& signal = kId) {
  MetricReading r;
  r.signal = signal;
  r.at = kT0 + std::chrono::seconds(at_s);
  r.status = ReadingStatus::Ok;
  r.series = std::move(series);
  r.query = "sum(rate(errors[1m]))";
  return r;
}
MetricReading value(int at_s, double v) { return ok(at_s, {{{}, v}}); }
MetricReading no_data(int at_s, const std::string& why = "empty result (no series matched)") {
  MetricReading r;
  r.signal = kId;
  r.at = kT0 + std::chrono::seconds(at_s);
  r.status = ReadingStatus::NoData;
  r.detail = why;
  return r;
}
MetricReading error(int at_s, const std::string& why = "HTTP 503: timeout: query timed out") {
  MetricReading r;
  r.signal = kId;
  r.at = kT0 + std::chrono::seconds(at_s);
  r.status = ReadingStatus::Error;
  r.detail = why;
  return r;
}

MetricCondition above(double limit, Duration hold = 0ms) {
  MetricCondition c;
  c.id = kId;
  c.source = "prom";
  c.kind = MetricCondition::Kind::Threshold;
  c.query.promql = "sum(rate(errors[1m]))";
  c.above = limit;
  c.hold_for = hold;
  return c;
}
MetricCondition below(double limit, Duration hold = 0ms) {
  MetricCondition c = above(0, hold);
  c.above.reset();
  c.below = limit;
  return c;
}

ConditionVerdict judge(const MetricCondition& c, std::vector<MetricReading> readings, Phase phase = Phase::Ongoing) {
  MetricHistory h;
  h[c.id] = std::move(readings);
  return evaluate_condition(c, h, phase);
}

// ---- thresholds, table-driven ------------------------------------------------

struct ThresholdCase {
  const char* name;
  MetricCondition cond;
  std::vector<MetricReading> readings;
  Phase phase;
  VerdictState want;
  const char* reason_part;
};
void PrintTo(const ThresholdCase& c, std::ostream* os) { *os << c.name; }

class ThresholdTable : public ::testing::TestWithParam<ThresholdCase> {};

TEST_P(ThresholdTable, Verdict) {
  const ThresholdCase& c = GetParam();
  ConditionVerdict v = judge(c.cond, c.readings, c.phase);
  EXPECT_EQ(state(v.state), state(c.want)) << v.reason;
  EXPECT_TRUE(contains(v.reason, "metric " + kId)) << v.reason;
  EXPECT_TRUE(contains(v.reason, c.reason_part)) << "want \"" << c.reason_part << "\" in: " << v.reason;
}

MetricCondition with_no_data(OnNoData n) {
  MetricCondition c = above(0.05);
  c.on_no_data = n;
  return c;
}
MetricCondition with_errors(int max) {
  MetricCondition c = above(0.05);
  c.max_source_errors = max;
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Hand, ThresholdTable,
    ::testing::Values(
        ThresholdCase{"above_breached", above(0.05), {value(0, 0.08)}, Phase::Ongoing, VerdictState::Tripped, "above 0.05"},
        ThresholdCase{"above_within", above(0.05), {value(0, 0.04)}, Phase::Ongoing, VerdictState::Healthy, "limit 0.05"},
        ThresholdCase{"above_equal_is_not_a_breach", above(0.05), {value(0, 0.05)}, Phase::Ongoing,
                      VerdictState::Healthy, "limit 0.05"},
        ThresholdCase{"below_breached", below(0.9), {value(0, 0.5)}, Phase::Ongoing, VerdictState::Tripped, "below 0.9"},
        ThresholdCase{"below_within", below(0.9), {value(0, 0.95)}, Phase::Ongoing, VerdictState::Healthy, "limit 0.9"},
        ThresholdCase{"newest_reading_decides", above(0.05), {value(0, 0.5), value(1, 0.01)}, Phase::Ongoing,
                      VerdictState::Healthy, "= 0.01"},
        // on_no_data
        ThresholdCase{"no_data_inconclusive", with_no_data(OnNoData::Inconclusive), {value(0, 0.01), no_data(1)},
                      Phase::Ongoing, VerdictState::Inconclusive, "on_no_data = inconclusive"},
        ThresholdCase{"no_data_trip", with_no_data(OnNoData::Trip), {value(0, 0.01), no_data(1)}, Phase::Ongoing,
                      VerdictState::Tripped, "on_no_data = trip"},
        ThresholdCase{"no_data_ignore", with_no_data(OnNoData::Ignore), {value(0, 0.01), no_data(1)}, Phase::Ongoing,
                      VerdictState::Healthy, "on_no_data = ignore"},
        ThresholdCase{"no_data_detail_is_shown", with_no_data(OnNoData::Inconclusive),
                      {no_data(0, "no usable value: 1 series, all NaN or infinite")}, Phase::Ongoing,
                      VerdictState::Inconclusive, "all NaN or infinite"},
        ThresholdCase{"no_data_is_not_zero_for_below", [] {
                        MetricCondition c = below(0.9);
                        c.on_no_data = OnNoData::Inconclusive;
                        return c;
                      }(),
                      {no_data(0)}, Phase::Ongoing, VerdictState::Inconclusive, "no data"},
        // source errors
        ThresholdCase{"errors_below_limit_judge_the_last_good_reading", with_errors(3),
                      {value(0, 0.01), error(1), error(2)}, Phase::Ongoing, VerdictState::Healthy, "= 0.01"},
        ThresholdCase{"errors_at_limit_cannot_judge", with_errors(3), {value(0, 0.01), error(1), error(2), error(3)},
                      Phase::Ongoing, VerdictState::Inconclusive, "failed 3 time(s) in a row"},
        ThresholdCase{"errors_at_limit_show_the_last_error", with_errors(2), {value(0, 0.01), error(1), error(2, "boom")},
                      Phase::Ongoing, VerdictState::Inconclusive, "boom"},
        ThresholdCase{"one_error_with_limit_one", with_errors(1), {value(0, 0.01), error(1)}, Phase::Ongoing,
                      VerdictState::Inconclusive, "failed 1 time(s)"},
        ThresholdCase{"errors_not_at_the_end_do_not_count", with_errors(2), {error(0), error(1), value(2, 0.01)},
                      Phase::Ongoing, VerdictState::Healthy, "= 0.01"},
        // nothing to judge
        ThresholdCase{"final_without_readings", above(0.05), {}, Phase::Final, VerdictState::Inconclusive,
                      "no reading taken"},
        ThresholdCase{"final_with_only_errors_below_limit", with_errors(3), {error(0, "connection refused")},
                      Phase::Final, VerdictState::Inconclusive, "connection refused"},
        ThresholdCase{"ongoing_without_readings_waits", above(0.05), {}, Phase::Ongoing, VerdictState::Healthy,
                      "waiting for a first reading"}));

// ---- hold_for ------------------------------------------------------------------

TEST(MetricHoldFor, TripsOnlyOnceTheBreachSpansHoldFor) {
  MetricCondition c = above(0.05, 2000ms);
  std::vector<MetricReading> all{value(0, 0.01), value(1, 0.2), value(2, 0.2), value(3, 0.2)};
  // Readings one second apart: the breach starts at t=1.
  std::vector<std::string> want{"healthy", "healthy", "healthy", "tripped"};
  std::vector<double> held{0, 0, 1000, 2000};
  for (size_t n = 1; n <= all.size(); ++n) {
    ConditionVerdict v = judge(c, {all.begin(), all.begin() + static_cast<long>(n)});
    EXPECT_EQ(state(v.state), want[n - 1]) << "after " << n << " readings: " << v.reason;
    if (n >= 2) {
      EXPECT_DOUBLE_EQ(v.stats.at("held_ms"), held[n - 1]) << n;
    }
  }
  ConditionVerdict v = judge(c, all);
  EXPECT_EQ(v.since, kT0 + 1s) << "the streak starts at the first breaching reading";
  ASSERT_EQ(v.evidence.size(), 3u);
  EXPECT_EQ(v.evidence.front().at, kT0 + 1s);
  EXPECT_EQ(v.evidence.back().at, kT0 + 3s);
  EXPECT_TRUE(contains(v.reason, "for 2000 ms (hold 2000 ms)")) << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("value"), 0.2);
  EXPECT_DOUBLE_EQ(v.stats.at("limit"), 0.05);
}

TEST(MetricHoldFor, NotYetHeldSaysHowLong) {
  ConditionVerdict v = judge(above(0.05, 2000ms), {value(0, 0.2), value(1, 0.2)});
  EXPECT_EQ(state(v.state), "healthy");
  EXPECT_TRUE(contains(v.reason, "for 1000 ms of 2000 ms")) << v.reason;
}

TEST(MetricHoldFor, NoDataBreaksTheStreak) {
  MetricCondition c = above(0.05, 2000ms);
  c.on_no_data = OnNoData::Ignore;
  // Breach at 0, NoData at 1, breach again from 2: the streak restarts at 2.
  std::vector<MetricReading> r{value(0, 0.2), no_data(1), value(2, 0.2), value(3, 0.2)};
  ConditionVerdict v = judge(c, r);
  EXPECT_EQ(state(v.state), "healthy") << "0..3 spans 3 s but is broken by no data: " << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("held_ms"), 1000);
  r.push_back(value(4, 0.2));
  v = judge(c, r);
  EXPECT_EQ(state(v.state), "tripped") << v.reason;
  EXPECT_EQ(v.since, kT0 + 2s);
}

TEST(MetricHoldFor, AGoodReadingBreaksTheStreak) {
  MetricCondition c = above(0.05, 2000ms);
  ConditionVerdict v = judge(c, {value(0, 0.2), value(1, 0.2), value(2, 0.01), value(3, 0.2), value(4, 0.2)});
  EXPECT_EQ(state(v.state), "healthy") << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("held_ms"), 1000);
}

// ---- per series ------------------------------------------------------------------

Labels route(const std::string& r) { return {{"job", "wiki"}, {"route", r}}; }

TEST(MetricPerSeries, OneSeriesBreachingIsEnoughAndIsNamed) {
  ConditionVerdict v = judge(above(0.05), {ok(0, {{route("/view"), 0.01}, {route("/edit"), 0.2}})});
  EXPECT_EQ(state(v.state), "tripped");
  EXPECT_TRUE(contains(v.reason, R"(route="/edit")")) << v.reason;
  EXPECT_FALSE(contains(v.reason, R"(route="/view")")) << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("value"), 0.2);
}

TEST(MetricPerSeries, HoldIsPerSeries) {
  // /edit breaches at 0 and 2, /view at 1 and 2: neither held for 2 s.
  MetricCondition c = above(0.05, 2000ms);
  ConditionVerdict v = judge(c, {ok(0, {{route("/edit"), 0.2}, {route("/view"), 0.01}}),
                                 ok(1, {{route("/edit"), 0.01}, {route("/view"), 0.2}}),
                                 ok(2, {{route("/edit"), 0.2}, {route("/view"), 0.2}})});
  EXPECT_EQ(state(v.state), "healthy") << v.reason;
  // Both series then keep breaching; /view reached 2 s first.
  v = judge(c, {ok(0, {{route("/edit"), 0.2}, {route("/view"), 0.01}}),
                ok(1, {{route("/edit"), 0.01}, {route("/view"), 0.2}}),
                ok(2, {{route("/edit"), 0.2}, {route("/view"), 0.2}}),
                ok(3, {{route("/edit"), 0.2}, {route("/view"), 0.2}})});
  EXPECT_EQ(state(v.state), "tripped") << v.reason;
  EXPECT_TRUE(contains(v.reason, R"(route="/view")")) << v.reason;
}

TEST(MetricPerSeries, HealthySummaryListsEverySeries) {
  ConditionVerdict v = judge(above(0.05), {ok(0, {{route("/view"), 0.01}, {route("/edit"), 0.02}})});
  EXPECT_EQ(state(v.state), "healthy");
  EXPECT_TRUE(contains(v.reason, R"(route="/view"} = 0.01)")) << v.reason;
  EXPECT_TRUE(contains(v.reason, R"(route="/edit"} = 0.02)")) << v.reason;
}

// ---- baseline ---------------------------------------------------------------------

MetricCondition baseline(double max_increase, bool relative, std::optional<double> floor = std::nullopt) {
  MetricCondition c;
  c.id = kId;
  c.source = "prom";
  c.kind = MetricCondition::Kind::Baseline;
  c.query.promql = "sum(rate(errors[5m]))";
  c.max_increase = max_increase;
  c.increase_relative = relative;
  c.above = floor;
  return c;
}

ConditionVerdict judge_baseline(const MetricCondition& c, std::optional<MetricReading> base,
                                std::vector<MetricReading> readings, Phase phase = Phase::Ongoing) {
  MetricHistory h;
  h[c.id] = std::move(readings);
  if (base) h[c.id + "#baseline"] = {*base};
  return evaluate_condition(c, h, phase);
}

struct BaselineCase {
  const char* name;
  MetricCondition cond;
  double base, now;
  VerdictState want;
};
void PrintTo(const BaselineCase& c, std::ostream* os) { *os << c.name; }

class BaselineTable : public ::testing::TestWithParam<BaselineCase> {};

TEST_P(BaselineTable, Verdict) {
  const BaselineCase& c = GetParam();
  ConditionVerdict v = judge_baseline(c.cond, value(-60, c.base), {value(0, c.now)});
  EXPECT_EQ(state(v.state), state(c.want)) << v.reason;
}

INSTANTIATE_TEST_SUITE_P(
    Hand, BaselineTable,
    ::testing::Values(
        // "50%" is 0.5: the limit is 0.02 * 1.5 = 0.03.
        BaselineCase{"relative_within", baseline(0.5, true), 0.02, 0.029, VerdictState::Healthy},
        BaselineCase{"relative_breached", baseline(0.5, true), 0.02, 0.031, VerdictState::Tripped},
        BaselineCase{"relative_lower_is_fine", baseline(0.5, true), 0.02, 0.001, VerdictState::Healthy},
        // absolute: the limit is 0.02 + 0.01 = 0.03.
        BaselineCase{"absolute_within", baseline(0.01, false), 0.02, 0.029, VerdictState::Healthy},
        BaselineCase{"absolute_breached", baseline(0.01, false), 0.02, 0.031, VerdictState::Tripped},
        // 0.5 is +2500% relative but only +0.48 absolute: the two readings differ.
        BaselineCase{"absolute_large_relative_small", baseline(1.0, false), 0.02, 0.5, VerdictState::Healthy},
        BaselineCase{"relative_large", baseline(1.0, true), 0.02, 0.5, VerdictState::Tripped},
        // `above` is a floor: ten times a tiny baseline is still below it.
        BaselineCase{"floor_holds_back_a_tiny_baseline", baseline(0.5, true, 0.05), 0.001, 0.01, VerdictState::Healthy},
        BaselineCase{"floor_and_increase_both_exceeded", baseline(0.5, true, 0.05), 0.001, 0.06, VerdictState::Tripped},
        BaselineCase{"above_floor_but_within_increase", baseline(0.5, true, 0.05), 0.1, 0.12, VerdictState::Healthy}));

TEST(MetricBaseline, TripReasonSaysPercentAndBaseline) {
  ConditionVerdict v = judge_baseline(baseline(0.5, true), value(-60, 0.02), {value(0, 0.031)});
  ASSERT_EQ(state(v.state), "tripped") << v.reason;
  EXPECT_TRUE(contains(v.reason, "50%")) << v.reason;
  EXPECT_TRUE(contains(v.reason, "pre-release value 0.02")) << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("baseline"), 0.02);
  EXPECT_DOUBLE_EQ(v.stats.at("limit"), 0.03);
  ASSERT_FALSE(v.evidence.empty());
  EXPECT_EQ(v.evidence.front().at, kT0 - 60s) << "the baseline reading is part of the evidence";
}

TEST(MetricBaseline, MissingBaselineReadingIsInconclusive) {
  ConditionVerdict v = judge_baseline(baseline(0.5, true), std::nullopt, {value(0, 5.0)});
  EXPECT_EQ(state(v.state), "inconclusive");
  EXPECT_TRUE(contains(v.reason, "no baseline reading")) << v.reason;
}

TEST(MetricBaseline, BaselineWithoutValueIsInconclusive) {
  MetricReading base = no_data(-60, "no usable value: 1 series, all NaN or infinite");
  ConditionVerdict v = judge_baseline(baseline(0.5, true), base, {value(0, 5.0)});
  EXPECT_EQ(state(v.state), "inconclusive");
  EXPECT_TRUE(contains(v.reason, "all NaN or infinite")) << v.reason;
}

TEST(MetricBaseline, PerSeriesAgainstItsOwnBaseline) {
  MetricReading base = ok(-60, {{route("/edit"), 0.1}, {route("/view"), 0.01}});
  // /edit 0.12 is within +50% of 0.1; /view 0.02 is double its 0.01.
  ConditionVerdict v =
      judge_baseline(baseline(0.5, true), base, {ok(0, {{route("/edit"), 0.12}, {route("/view"), 0.02}})});
  EXPECT_EQ(state(v.state), "tripped") << v.reason;
  EXPECT_TRUE(contains(v.reason, R"(route="/view")")) << v.reason;
  // A series the baseline never had cannot be judged: missing data, never health.
  v = judge_baseline(baseline(0.5, true), base, {ok(0, {{route("/new"), 9.0}})});
  EXPECT_EQ(state(v.state), "inconclusive") << v.reason;
  EXPECT_TRUE(contains(v.reason, "no usable baseline value")) << v.reason;
}

// ---- canary ----------------------------------------------------------------------

MetricCondition canary(double alpha = 0.05, double min_requests = 500) {
  MetricCondition c;
  c.id = kId;
  c.source = "prom";
  c.kind = MetricCondition::Kind::Canary;
  c.alpha = alpha;
  c.min_requests = min_requests;
  return c;
}

MetricReading arms(int at_s, double e1, double n1, double e0, double n0) {
  auto s = [](const char* arm, const char* kind, double v) {
    return SeriesValue{{{"arm", arm}, {"kind", kind}}, v};
  };
  return ok(at_s, {s("baseline", "errors", e0), s("baseline", "total", n0), s("canary", "errors", e1),
                   s("canary", "total", n1)});
}

// A reading the way the driver makes it: the counts and the folded test.
MetricReading folded(int at_s, const CanaryState& st) { return ok(at_s, canary_series(st)); }

struct CanaryCase {
  const char* name;
  double e1, n1, e0, n0;
  VerdictState want;
  const char* reason_part;
};
void PrintTo(const CanaryCase& c, std::ostream* os) { *os << c.name; }

class CanaryTable : public ::testing::TestWithParam<CanaryCase> {};

TEST_P(CanaryTable, Verdict) {
  const CanaryCase& c = GetParam();
  ConditionVerdict v = judge(canary(), {arms(0, c.e1, c.n1, c.e0, c.n0)});
  EXPECT_EQ(state(v.state), state(c.want)) << v.reason;
  EXPECT_TRUE(contains(v.reason, c.reason_part)) << "want \"" << c.reason_part << "\" in: " << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("canary_errors"), c.e1);
  EXPECT_DOUBLE_EQ(v.stats.at("canary_requests"), c.n1);
  EXPECT_DOUBLE_EQ(v.stats.at("baseline_errors"), c.e0);
  EXPECT_DOUBLE_EQ(v.stats.at("baseline_requests"), c.n0);
  EXPECT_NEAR(v.stats.at("log_threshold"), std::log(20.0), 1e-12);
  EXPECT_DOUBLE_EQ(v.stats.at("max_ratio"), 3);
  if (c.want == VerdictState::Tripped) {
    EXPECT_GE(v.stats.at("log_likelihood_ratio"), std::log(1 / 0.05));
  } else {
    EXPECT_LT(v.stats.at("log_likelihood_ratio"), std::log(1 / 0.05));
  }
  if (c.want == VerdictState::Healthy) {
    EXPECT_LE(v.stats.at("ratio_upper_bound"), 3) << v.reason;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Hand, CanaryTable,
    ::testing::Values(CanaryCase{"a_a_enough_errors", 40, 4000, 40, 4000, VerdictState::Healthy, "no regression: the canary fails less than"},
                      // Equal rates, but 20 errors cannot exclude a tripling yet: not healthy.
                      CanaryCase{"a_a_too_few_errors", 10, 2000, 10, 2000, VerdictState::Inconclusive,
                                 "not yet below max_ratio 3; need about"},
                      CanaryCase{"five_times_worse", 50, 2000, 10, 2000, VerdictState::Tripped, "sequential test"},
                      CanaryCase{"canary_better", 2, 2000, 20, 2000, VerdictState::Healthy, "no regression"},
                      CanaryCase{"no_errors_anywhere", 0, 2000, 0, 2000, VerdictState::Inconclusive,
                                 "no upper bound on the error ratio yet"},
                      CanaryCase{"too_few_requests", 1, 100, 1, 150, VerdictState::Inconclusive, "need about"},
                      CanaryCase{"one_arm_short", 3, 2000, 3, 450, VerdictState::Inconclusive, "need about"}));

TEST(MetricCanary, MissingArmCountsAreNotHealth) {
  // Only the canary's series came back: the baseline has no requests.
  MetricReading r = ok(0, {{{{"arm", "canary"}, {"kind", "errors"}}, 5}, {{{"arm", "canary"}, {"kind", "total"}}, 2000}});
  ConditionVerdict v = judge(canary(), {r});
  EXPECT_EQ(state(v.state), "inconclusive") << v.reason;
  EXPECT_TRUE(contains(v.reason, "need traffic on both arms")) << v.reason;
}

TEST(MetricCanary, OnlyTheNewestReadingCounts) {
  ConditionVerdict v = judge(canary(), {arms(0, 50, 2000, 10, 2000), arms(5, 20, 4000, 20, 4000)});
  EXPECT_EQ(state(v.state), "healthy") << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("canary_requests"), 4000);
}

TEST(MetricCanary, LowBaselineAndASixFoldCanaryIsNotHealthy) {
  // The issue's case: 0.1 % baseline, 500 requests per arm, 3 errors vs 0.5.
  // Not rejected used to mean healthy; without evidence it is inconclusive,
  // with an estimate of the traffic still needed (from the counts, not a constant).
  MetricCondition c = canary(0.01, 500);
  ConditionVerdict v = judge(c, {arms(0, 3, 500, 0.5, 500)}, Phase::Final);
  EXPECT_EQ(state(v.state), "inconclusive") << v.reason;
  EXPECT_TRUE(contains(v.reason, "need about")) << v.reason;
  double need = v.stats.at("need_canary_requests");
  EXPECT_GT(need, 1000) << v.reason;
  // More traffic at the same low rate: still more needed, a different number.
  ConditionVerdict w = judge(c, {arms(0, 3, 5000, 5, 5000)}, Phase::Final);
  EXPECT_EQ(state(w.state), "inconclusive") << w.reason;
  EXPECT_NE(w.stats.at("need_canary_requests"), need) << w.reason;
}

TEST(MetricCanary, MinRequestsGuardsOnlyTheHealthyVerdict) {
  // Strong evidence of health, but fewer requests than min_requests.
  ConditionVerdict v = judge(canary(0.05, 5000), {arms(0, 40, 4000, 40, 4000)});
  EXPECT_EQ(state(v.state), "inconclusive") << v.reason;
  EXPECT_TRUE(contains(v.reason, "need about 1000 more requests per arm")) << v.reason;
  // A regression trips below min_requests: 10 of 50 canary requests failing vs 0 of 950.
  ConditionVerdict t = judge(canary(0.01, 500), {arms(0, 10, 50, 0, 950)});
  EXPECT_EQ(state(t.state), "tripped") << t.reason;
}

TEST(MetricCanary, ChangedSplitWithASharedBurstDoesNotTrip) {
  // 10 % of 10k requests to the canary at 0.5 % errors in both arms, then a
  // 50 % split during a shared dependency's burst (20 % errors in both arms).
  MetricCondition c = canary(0.01);
  CanaryState st = canary_start(c.max_ratio);
  st = canary_fold(st, {.canary_errors = 5, .canary_total = 1000, .baseline_errors = 45, .baseline_total = 9000});
  MetricReading first = folded(5, st);
  st = canary_fold(st, {.canary_errors = 200, .canary_total = 1000, .baseline_errors = 200, .baseline_total = 1000});
  ConditionVerdict v = judge(c, {first, folded(10, st)});
  EXPECT_NE(state(v.state), "tripped") << v.reason;
  EXPECT_LT(v.stats.at("log_likelihood_ratio"), 0) << v.reason;
  // The same totals judged as one interval (the old cumulative test) trip.
  ConditionVerdict old = judge(c, {arms(10, 205, 2000, 245, 10000)});
  EXPECT_EQ(state(old.state), "tripped") << old.reason;
  // The evidence shows the counts, not the test's internal state.
  ASSERT_EQ(v.evidence.size(), 1u);
  EXPECT_EQ(v.evidence[0].series.size(), 4u);
}

TEST(MetricCanary, ACanaryFailingEverythingAtAFivePercentShareTripsInSeconds) {
  // 10 req/s, 5 % to the canary, every canary request failing; the baseline
  // fails 1 %. A look every 5 s: 2-3 canary requests per look.
  MetricCondition c = canary(0.01, 500);
  CanaryState st = canary_start(c.max_ratio);
  std::vector<MetricReading> readings;
  int tripped_at = -1;
  for (int look = 1; look <= 20 && tripped_at < 0; ++look) {
    double canary = look % 2 ? 2 : 3;
    double base_errors = look % 2 ? 0 : 1;
    st = canary_fold(st, {.canary_errors = canary, .canary_total = canary, .baseline_errors = base_errors, .baseline_total = 47.5});
    readings.push_back(folded(5 * look, st));
    if (judge(c, readings).state == VerdictState::Tripped) tripped_at = look;
  }
  ASSERT_GT(tripped_at, 0) << "never tripped";
  EXPECT_LE(tripped_at, 4) << "tripped only after " << 5 * tripped_at << " s";
}

// The test's numbers on one interval of counts.
CanaryJudgement once(double e1, double n1, double e0, double n0, double alpha) {
  return canary_judge(canary_fold(canary_start(3), {e1, n1, e0, n0}), alpha);
}

TEST(CanarySequentialTest, LogThresholdIsLogOneOverAlpha) {
  CanaryJudgement t = once(10, 2000, 10, 2000, 0.01);
  EXPECT_NEAR(t.log_threshold, std::log(100.0), 1e-12);
  EXPECT_DOUBLE_EQ(t.canary_rate, 0.005);
  EXPECT_DOUBLE_EQ(t.baseline_rate, 0.005);
  EXPECT_LT(t.log_lr, 0) << "equal rates are evidence against a regression";
  EXPECT_FALSE(t.regression);
}

TEST(CanarySequentialTest, NoErrorsOrNoRequestsIsNoEvidence) {
  for (auto [e1, n1, e0, n0] : std::vector<std::array<double, 4>>{{0, 1000, 0, 1000}, {5, 0, 5, 1000}, {5, 1000, 5, 0}}) {
    CanaryJudgement t = once(e1, n1, e0, n0, 0.05);
    EXPECT_NEAR(t.log_lr, 0, 1e-12) << e1 << "/" << n1 << " vs " << e0 << "/" << n0;
    EXPECT_FALSE(t.regression);
    EXPECT_FALSE(t.below_max);
    EXPECT_FALSE(t.upper_bound.has_value());
  }
}

TEST(CanarySequentialTest, MonotoneInCanaryErrors) {
  double prev = -INFINITY;
  bool rejected = false;
  for (int e1 = 0; e1 <= 80; ++e1) {
    CanaryJudgement t = once(e1, 2000, 10, 2000, 0.05);
    EXPECT_GT(t.log_lr, prev) << "e1 = " << e1;
    EXPECT_EQ(t.regression, t.log_lr >= t.log_threshold) << e1;
    if (rejected) {
      EXPECT_TRUE(t.regression) << "once rejected, more errors must stay rejected: e1 = " << e1;
    }
    rejected = t.regression;
    prev = t.log_lr;
  }
  EXPECT_TRUE(rejected) << "80/2000 against 10/2000 must trip";
}

int first_rejecting_errors(double alpha) {
  for (int e1 = 0; e1 <= 500; ++e1)
    if (once(e1, 2000, 10, 2000, alpha).regression) return e1;
  return -1;
}

TEST(CanarySequentialTest, SmallerAlphaIsHarderToTrip) {
  int loose = first_rejecting_errors(0.05);
  int strict = first_rejecting_errors(0.001);
  ASSERT_GT(loose, 10) << "no trip at equal rates";
  ASSERT_GT(strict, 0);
  EXPECT_GT(strict, loose) << "alpha 0.001 needs more canary errors than alpha 0.05";
  // Same counts, different alpha: the statistic is the same, only the bar moves.
  CanaryJudgement a = once(loose, 2000, 10, 2000, 0.05);
  CanaryJudgement b = once(loose, 2000, 10, 2000, 0.001);
  EXPECT_DOUBLE_EQ(a.log_lr, b.log_lr);
  EXPECT_TRUE(a.regression);
  EXPECT_FALSE(b.regression);
}

TEST(CanarySequentialTest, MoreTrafficAtTheSameRatesIsMoreEvidence) {
  // Twice the canary's error rate: weak evidence at small counts, decisive at large ones.
  CanaryJudgement small = once(4, 1000, 2, 1000, 0.05);
  CanaryJudgement large = once(200, 50000, 100, 50000, 0.05);
  EXPECT_FALSE(small.regression);
  EXPECT_TRUE(large.regression);
  EXPECT_GT(large.log_lr, small.log_lr);
}

// ---- policy level: a probe rule and a metric condition ---------------------------

std::vector<Observation> runs(const std::vector<Outcome>& outcomes) {
  std::vector<Observation> out;
  int i = 0;
  for (Outcome o : outcomes)
    out.push_back(Observation{.signal = "home", .at = kT0 + std::chrono::seconds(i++), .outcome = o, .detail = "d"});
  return out;
}

PolicySpec mixed_policy(Combine combine) {
  PolicySpec p;
  p.name = "p";
  p.probes = {"home"};
  p.consecutive_failures = 3;
  p.min_observations = 1;
  p.combine = combine;
  p.metrics = {above(0.05)};
  return p;
}

struct CombineCase {
  const char* name;
  Combine combine;
  bool probe_fails, metric_breaches;
  VerdictState want;
};
void PrintTo(const CombineCase& c, std::ostream* os) { *os << c.name; }

class CombineTable : public ::testing::TestWithParam<CombineCase> {};

TEST_P(CombineTable, Verdict) {
  const CombineCase& c = GetParam();
  History h{{"home", runs(c.probe_fails ? std::vector<Outcome>(3, Outcome::Failed) : std::vector<Outcome>(3, Outcome::Passed))}};
  MetricHistory m{{kId, {value(0, c.metric_breaches ? 0.2 : 0.01)}}};
  Verdict v = evaluate(mixed_policy(c.combine), h, Phase::Ongoing, m);
  EXPECT_EQ(state(v.state), state(c.want));
  EXPECT_FALSE(v.reasons.empty());
  if (c.want == VerdictState::Tripped && c.combine == Combine::All) {
    // Both parts are in the reasons and the evidence.
    ASSERT_EQ(v.reasons.size(), 2u);
    EXPECT_TRUE(contains(v.reasons[0], "probe home")) << v.reasons[0];
    EXPECT_TRUE(contains(v.reasons[1], "metric " + kId)) << v.reasons[1];
    EXPECT_EQ(v.evidence.size(), 3u);
    EXPECT_EQ(v.metric_evidence.size(), 1u);
  }
  if (c.want == VerdictState::Tripped && c.combine == Combine::Any && !c.probe_fails) {
    EXPECT_EQ(v.probe, kId) << "the metric condition decided";
    EXPECT_DOUBLE_EQ(v.stats.at("value"), 0.2);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Hand, CombineTable,
    ::testing::Values(CombineCase{"any_neither", Combine::Any, false, false, VerdictState::Healthy},
                      CombineCase{"any_probe_only", Combine::Any, true, false, VerdictState::Tripped},
                      CombineCase{"any_metric_only", Combine::Any, false, true, VerdictState::Tripped},
                      CombineCase{"any_both", Combine::Any, true, true, VerdictState::Tripped},
                      CombineCase{"all_neither", Combine::All, false, false, VerdictState::Healthy},
                      CombineCase{"all_probe_only", Combine::All, true, false, VerdictState::Healthy},
                      CombineCase{"all_metric_only", Combine::All, false, true, VerdictState::Healthy},
                      CombineCase{"all_both", Combine::All, true, true, VerdictState::Tripped}));

TEST(MetricCombine, AllWithAnInconclusivePartIsNotATrip) {
  History h{{"home", runs({Outcome::Failed, Outcome::Failed, Outcome::Failed})}};
  MetricHistory m{{kId, {no_data(0)}}};
  Verdict v = evaluate(mixed_policy(Combine::All), h, Phase::Ongoing, m);
  EXPECT_EQ(state(v.state), "inconclusive");
  v = evaluate(mixed_policy(Combine::Any), h, Phase::Ongoing, m);
  EXPECT_EQ(state(v.state), "tripped") << "any: a trip outranks cannot-judge";
}

// ---- recovery -------------------------------------------------------------------

RecoveryState recovery(const MetricCondition& c, std::vector<MetricReading> readings, int passes, std::string& why) {
  MetricHistory h{{c.id, std::move(readings)}};
  return condition_recovery(c, h, passes, why);
}

TEST(MetricRecovery, RecoveredAfterPassesGoodReadings) {
  MetricCondition c = above(0.05);
  std::string why;
  EXPECT_EQ(state(recovery(c, {}, 2, why)), "pending") << why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01)}, 2, why)), "pending") << why;
  EXPECT_TRUE(contains(why, "1 of 2 good readings")) << why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01), value(1, 0.02)}, 2, why)), "recovered") << why;
  EXPECT_TRUE(contains(why, "2 of 2 good readings")) << why;
}

TEST(MetricRecovery, StillFailingWhenItBreachesAgain) {
  MetricCondition c = above(0.05);
  std::string why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01), value(1, 0.02), value(2, 0.2)}, 2, why)), "still_failing") << why;
  EXPECT_TRUE(contains(why, "above 0.05")) << why;
}

TEST(MetricRecovery, NoDataAndErrorsDoNotCountAsGood) {
  MetricCondition c = above(0.05);
  c.on_no_data = OnNoData::Ignore;
  std::string why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01), no_data(1)}, 2, why)), "pending") << why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01), error(1)}, 2, why)), "pending") << why;
  EXPECT_EQ(state(recovery(c, {no_data(0), value(1, 0.01), value(2, 0.01)}, 2, why)), "recovered") << why;
}

TEST(MetricRecovery, BreachBeforeTheGoodReadingsIsForgiven) {
  MetricCondition c = above(0.05, 5000ms);  // a breach not yet held does not trip
  std::string why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.2), value(1, 0.01), value(2, 0.01)}, 2, why)), "recovered") << why;
}

TEST(MetricRecovery, ABreachAmongTheNewestReadingsRestartsTheCount) {
  MetricCondition c = above(0.05);
  std::string why;
  EXPECT_EQ(state(recovery(c, {value(0, 0.01), value(1, 0.2), value(2, 0.01)}, 2, why)), "pending") << why;
  EXPECT_TRUE(contains(why, "1 of 2 good readings")) << why;
}

TEST(MetricRecovery, ReadingsBeyondTheLimitAreNotGoodEvenBeforeHoldForElapses) {
  // hold_for delays a trip; it does not make an out-of-bounds reading good.
  // Three readings at 0.2 (limit 0.05), 1 s apart, hold 5 s: not a trip yet,
  // and not a recovery either.
  MetricCondition c = above(0.05, 5000ms);
  std::string why;
  RecoveryState s = recovery(c, {value(0, 0.2), value(1, 0.2), value(2, 0.2)}, 2, why);
  EXPECT_EQ(state(s), "pending") << why;
  EXPECT_TRUE(contains(why, "0 of 2 good readings")) << why;
}

TEST(MetricRecovery, CanaryRecoversOnlyOnEvidence) {
  MetricCondition c = canary();
  std::string why;
  EXPECT_EQ(state(recovery(c, {arms(0, 40, 4000, 40, 4000)}, 2, why)), "recovered") << why;
  EXPECT_EQ(state(recovery(c, {arms(0, 50, 2000, 10, 2000)}, 2, why)), "still_failing") << why;
  EXPECT_EQ(state(recovery(c, {arms(0, 1, 100, 1, 100)}, 2, why)), "pending") << why;
}

TEST(MetricRecovery, ACanaryStillTwiceAsBadIsPendingNotRecovered) {
  // After a flip: canary 10 vs 5 errors at a 1 % baseline. Not a trip, and
  // not evidence of health either.
  MetricCondition c = canary(0.01);
  std::string why;
  EXPECT_EQ(state(recovery(c, {arms(0, 10, 500, 5, 500)}, 2, why)), "pending") << why;
  EXPECT_TRUE(contains(why, "need about")) << why;
}

}  // namespace
}  // namespace dg
