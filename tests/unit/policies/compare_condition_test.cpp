// The plain tolerance comparison of a canary value against the baseline's
// (e.g. p99 latency), held for a duration.
#include <gtest/gtest.h>

#include "policies/metric_evaluator.h"

namespace dg {
namespace {

const TimePoint kT0{std::chrono::seconds{1'800'000'000}};

MetricReading reading(int sec, double canary, double baseline) {
  return MetricReading{.signal = "p/latency", .at = kT0 + std::chrono::seconds(sec), .status = ReadingStatus::Ok,
                       .series = {{{{"arm", "canary"}}, canary}, {{{"arm", "baseline"}}, baseline}}};
}

MetricCondition compare(double increase, bool relative, Duration hold) {
  MetricCondition c;
  c.id = "p/latency";
  c.kind = MetricCondition::Kind::Compare;
  c.max_increase = increase;
  c.increase_relative = relative;
  c.hold_for = hold;
  return c;
}

TEST(CompareCondition, RelativeToleranceHeldForADuration) {
  MetricCondition c = compare(0.2, true, Duration{2000});
  MetricHistory h{{"p/latency", {reading(0, 0.110, 0.100), reading(1, 0.130, 0.100)}}};
  EXPECT_EQ(evaluate_condition(c, h, Phase::Ongoing).state, VerdictState::Healthy) << "held 0 s of 2 s";
  h["p/latency"].push_back(reading(2, 0.125, 0.100));
  h["p/latency"].push_back(reading(3, 0.140, 0.100));
  ConditionVerdict v = evaluate_condition(c, h, Phase::Ongoing);
  EXPECT_EQ(v.state, VerdictState::Tripped) << v.reason;
  EXPECT_DOUBLE_EQ(v.stats.at("limit"), 0.12);
  EXPECT_EQ(v.evidence.size(), 3u);
}

TEST(CompareCondition, AbsoluteToleranceAndFloor) {
  MetricCondition c = compare(0.05, false, Duration{0});
  EXPECT_EQ(evaluate_condition(c, {{"p/latency", {reading(0, 0.149, 0.100)}}}, Phase::Ongoing).state,
            VerdictState::Healthy);
  EXPECT_EQ(evaluate_condition(c, {{"p/latency", {reading(0, 0.151, 0.100)}}}, Phase::Ongoing).state,
            VerdictState::Tripped);
  c.above = 0.2;  // too small to matter below 200 ms
  EXPECT_EQ(evaluate_condition(c, {{"p/latency", {reading(0, 0.151, 0.100)}}}, Phase::Ongoing).state,
            VerdictState::Healthy);
}

TEST(CompareCondition, NoDataIsNotHealth) {
  MetricCondition c = compare(0.2, true, Duration{0});
  MetricReading none{.signal = "p/latency", .at = kT0, .status = ReadingStatus::NoData, .detail = "empty result"};
  EXPECT_EQ(evaluate_condition(c, {{"p/latency", {none}}}, Phase::Final).state, VerdictState::Inconclusive);
}

}  // namespace
}  // namespace dg
