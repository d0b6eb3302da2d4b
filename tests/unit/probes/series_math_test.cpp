// Counter rates with resets, window trimming, and histogram_quantile checked
// against values worked out by hand the way PromQL computes them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <random>

#include "probes/metrics/series_math.h"

namespace dg {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

std::deque<Point> pts(std::initializer_list<Point> p) { return std::deque<Point>(p); }

// ---- counter_rate ----------------------------------------------------------

TEST(CounterRate, SteadyIncrease) {
  auto r = counter_rate(pts({{0, 0}, {10, 100}, {20, 200}, {30, 300}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 10.0);
}

TEST(CounterRate, UnevenSpacingUsesTheWholeSpan) {
  // 1000 → 1090 over 45 s, whatever the steps in between.
  auto r = counter_rate(pts({{100, 1000}, {105, 1010}, {130, 1030}, {145, 1090}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 2.0);
}

TEST(CounterRate, FlatCounterIsZeroRateNotNoRate) {
  auto r = counter_rate(pts({{0, 7}, {15, 7}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 0.0);
}

TEST(CounterRate, ResetInTheMiddleCountsThePostResetValue) {
  // 100 → 150 (+50), restart → 30 (+30, it counted up from zero), → 80 (+50).
  auto r = counter_rate(pts({{0, 100}, {10, 150}, {20, 30}, {30, 80}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 130.0 / 30.0);
}

TEST(CounterRate, ResetToZeroAddsNothingForThatStep) {
  auto r = counter_rate(pts({{0, 500}, {10, 0}, {20, 40}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 40.0 / 20.0);
}

TEST(CounterRate, NeverNegative) {
  // A counter that only ever resets downward still has a non-negative rate.
  auto r = counter_rate(pts({{0, 900}, {10, 600}, {20, 300}, {30, 100}}));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, (600.0 + 300.0 + 100.0) / 30.0);
  EXPECT_GE(*r, 0);
}

TEST(CounterRate, NeedsTwoPoints) {
  EXPECT_FALSE(counter_rate({}));
  EXPECT_FALSE(counter_rate(pts({{10, 5}})));
}

TEST(CounterRate, ZeroSpanHasNoRate) {
  EXPECT_FALSE(counter_rate(pts({{10, 5}, {10, 9}})));
}

// ---- trim_window -------------------------------------------------------------

std::vector<double> times(const std::deque<Point>& p) {
  std::vector<double> out;
  for (const auto& x : p) out.push_back(x.t);
  return out;
}

std::deque<Point> every_ten(int n) {
  std::deque<Point> p;
  for (int i = 0; i < n; ++i) p.push_back({10.0 * i, 100.0 * i});
  return p;
}

TEST(TrimWindow, KeepsThePointExactlyAtTheWindowStart) {
  auto p = every_ten(7);  // 0..60
  trim_window(p, 30);     // start = 30
  EXPECT_EQ(times(p), (std::vector<double>{30, 40, 50, 60}));
}

TEST(TrimWindow, KeepsOnePointBeforeTheWindowStart) {
  auto p = every_ten(7);
  trim_window(p, 25);  // start = 35: keep 30, the last point at or before it
  EXPECT_EQ(times(p), (std::vector<double>{30, 40, 50, 60}));
  // The rate then covers at least the whole window.
  auto r = counter_rate(p);
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r, 10.0);
  EXPECT_GE(p.back().t - p.front().t, 25);
}

TEST(TrimWindow, NothingToDropWhenEverythingIsInside) {
  auto p = every_ten(4);  // 0..30
  trim_window(p, 60);
  EXPECT_EQ(times(p), (std::vector<double>{0, 10, 20, 30}));
}

TEST(TrimWindow, LeavesEnoughForARate) {
  auto p = every_ten(5);
  trim_window(p, 6);  // start = 34: 30 is the point at/before it
  EXPECT_EQ(times(p), (std::vector<double>{30, 40}));
  EXPECT_TRUE(counter_rate(p));
}

TEST(TrimWindow, APointOlderThanTwoWindowsIsAGapNotARate) {
  // Scrapes 10 s apart against a 1 s window: like PromQL's rate(x[1s]) there,
  // there is no rate rather than one stretched over the gap.
  auto p = every_ten(5);
  trim_window(p, 1);
  EXPECT_EQ(times(p), (std::vector<double>{40}));
  EXPECT_FALSE(counter_rate(p));
}

TEST(TrimWindow, EmptyAndSingleAreLeftAlone) {
  std::deque<Point> empty;
  trim_window(empty, 10);
  EXPECT_TRUE(empty.empty());
  auto one = pts({{5, 1}});
  trim_window(one, 10);
  EXPECT_EQ(one.size(), 1u);
}

// ---- parse_le ---------------------------------------------------------------

TEST(ParseLe, PrometheusSpellings) {
  EXPECT_EQ(parse_le("0.5"), 0.5);
  EXPECT_EQ(parse_le("1e-07"), 1e-07);
  EXPECT_EQ(parse_le("+Inf"), kInf);
  EXPECT_EQ(parse_le("10"), 10.0);
  EXPECT_FALSE(parse_le(""));
  EXPECT_FALSE(parse_le("fast"));
}

// ---- histogram_quantile ------------------------------------------------------

// 50 observations: 10 ≤ 0.1, 20 in (0.1, 0.5], 15 in (0.5, 1], 5 above 1.
std::vector<Bucket> latency() { return {{0.1, 10}, {0.5, 30}, {1.0, 45}, {kInf, 50}}; }

struct QCase {
  double q;
  double want;
  const char* why;
};
void PrintTo(const QCase& c, std::ostream* os) { *os << "q=" << c.q << " (" << c.why << ")"; }

class HistogramQuantile : public ::testing::TestWithParam<QCase> {};

TEST_P(HistogramQuantile, MatchesHandComputedPromQL) {
  const QCase& c = GetParam();
  EXPECT_NEAR(histogram_quantile(c.q, latency()), c.want, 1e-12) << c.why;
}

INSTANTIATE_TEST_SUITE_P(
    HandComputed, HistogramQuantile,
    ::testing::Values(
        // rank 25 in (0.1,0.5]: 0.1 + 0.4 * (25-10)/20
        QCase{0.5, 0.4, "interpolated in the second bucket"},
        // rank 5 in the first bucket, which starts at 0: 0 + 0.1 * 5/10
        QCase{0.1, 0.05, "first bucket starts at zero"},
        // rank 12.5: 0.1 + 0.4 * 2.5/20
        QCase{0.25, 0.15, "just into the second bucket"},
        // rank 45 is exactly the top of (0.5,1]: 0.5 + 0.5 * 15/15
        QCase{0.9, 1.0, "rank at a bucket's upper edge"},
        // rank 40: 0.5 + 0.5 * 10/15
        QCase{0.8, 0.5 + 0.5 * 10.0 / 15.0, "third bucket"},
        // rank 47.5 falls in +Inf: the highest finite bound
        QCase{0.95, 1.0, "rank in the +Inf bucket"},
        QCase{0.99, 1.0, "rank in the +Inf bucket"},
        QCase{1.0, 1.0, "q = 1 lands in +Inf"},
        // rank 0 is in the first bucket at its lower edge
        QCase{0.0, 0.0, "q = 0"}));

TEST(HistogramQuantileEdges, OutOfRangeQuantiles) {
  EXPECT_EQ(histogram_quantile(-0.1, latency()), -kInf);
  EXPECT_EQ(histogram_quantile(1.1, latency()), kInf);
  EXPECT_TRUE(std::isnan(histogram_quantile(std::nan(""), latency())));
}

TEST(HistogramQuantileEdges, NoObservationsOrNoInfBucketIsNaN) {
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {})));
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{0.1, 10}, {0.5, 30}, {1.0, 45}}))) << "no +Inf bucket";
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{0.1, 0}, {0.5, 0}, {kInf, 0}}))) << "no observations";
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{kInf, 12}}))) << "only the +Inf bucket";
}

TEST(HistogramQuantileEdges, UnsortedInputGivesTheSameAnswer) {
  std::vector<Bucket> b = latency();
  std::mt19937 rng(7);
  for (int i = 0; i < 10; ++i) {
    std::shuffle(b.begin(), b.end(), rng);
    EXPECT_NEAR(histogram_quantile(0.5, b), 0.4, 1e-12);
    EXPECT_NEAR(histogram_quantile(0.1, b), 0.05, 1e-12);
    EXPECT_EQ(histogram_quantile(0.99, b), 1.0);
  }
  // Explicitly reversed, +Inf first.
  EXPECT_NEAR(histogram_quantile(0.5, {{kInf, 50}, {1.0, 45}, {0.5, 30}, {0.1, 10}}), 0.4, 1e-12);
}

TEST(HistogramQuantileEdges, NonMonotonicCumulativeCountsAreMadeMonotonic) {
  // A scrape race: the 0.5 bucket reads 8, below the 0.1 bucket's 10. PromQL
  // lifts it to 10, so (0.1,0.5] is empty and rank 25 lies in (0.5,1]:
  // 0.5 + 0.5 * (25-10)/35.
  std::vector<Bucket> b{{0.1, 10}, {0.5, 8}, {1.0, 45}, {kInf, 50}};
  EXPECT_NEAR(histogram_quantile(0.5, b), 0.5 + 0.5 * 15.0 / 35.0, 1e-12);
  // The +Inf bucket lower than a finite one: total becomes 45, rank 22.5.
  std::vector<Bucket> c{{0.1, 10}, {0.5, 30}, {1.0, 45}, {kInf, 40}};
  EXPECT_NEAR(histogram_quantile(0.5, c), 0.1 + 0.4 * 12.5 / 20.0, 1e-12);
}

TEST(HistogramQuantileEdges, NegativeOrZeroFirstBoundIsReturnedAsIs) {
  // PromQL: when the rank falls into the first bucket and its bound is <= 0,
  // the answer is that bound (no interpolation from zero).
  EXPECT_EQ(histogram_quantile(0.25, {{-1, 5}, {1, 10}, {kInf, 10}}), -1.0);
  EXPECT_EQ(histogram_quantile(0.25, {{0, 5}, {1, 10}, {kInf, 10}}), 0.0);
  // Above the first bucket, interpolation from its bound: -1 + 2 * (7.5-5)/5.
  EXPECT_NEAR(histogram_quantile(0.75, {{-1, 5}, {1, 10}, {kInf, 10}}), 0.0, 1e-12);
}

TEST(HistogramQuantileEdges, TwoBucketsAllInTheFirst) {
  // 4 observations all ≤ 0.2: the median is 0 + 0.2 * 2/4.
  EXPECT_NEAR(histogram_quantile(0.5, {{0.2, 4}, {kInf, 4}}), 0.1, 1e-12);
}

}  // namespace
}  // namespace dg
