// The canary's counting across looks (counter resets, pods, series that
// appear later) and the test's fold (any split, state in a reading).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "policies/canary_counter.h"
#include "policies/canary_test.h"

namespace dg {
namespace {

SeriesValue pod(const std::string& name, double v) { return {{{"pod", name}}, v}; }

TEST(SeriesCounter, CountsWhatEachSeriesAddedSinceTheFirstLook) {
  SeriesCounter c;
  c.add({pod("a", 100), pod("b", 1000)}, true);
  EXPECT_EQ(c.counted(), 0) << "the first look is the base";
  c.add({pod("a", 150), pod("b", 1010)}, false);
  EXPECT_EQ(c.counted(), 60);
}

TEST(SeriesCounter, AResetOfOnePodAddsOnlyWhatItCountedSince) {
  SeriesCounter c;
  c.add({pod("a", 100), pod("b", 1000)}, true);
  c.add({pod("a", 120), pod("b", 1100)}, false);  // +20, +100
  c.add({pod("a", 5), pod("b", 1200)}, false);    // a restarted: +5; b +100
  EXPECT_EQ(c.counted(), 225);
  c.add({pod("a", 15), pod("b", 1200)}, false);   // +10 after the reset
  EXPECT_EQ(c.counted(), 235);
}

TEST(SeriesCounter, ASeriesThatAppearsLaterStartedFromZero) {
  SeriesCounter c;
  c.add({pod("a", 100)}, true);
  c.add({pod("a", 110), pod("c", 7)}, false);  // a new pod counted 7 since it started
  EXPECT_EQ(c.counted(), 17);
  c.add({pod("a", 110)}, false);  // c gone from this look: what it counted stays
  EXPECT_EQ(c.counted(), 17);
  c.add({pod("a", 110), pod("c", 9)}, false);
  EXPECT_EQ(c.counted(), 19);
}

TEST(CanaryCounter, FoldsEachLooksIncrementsAcrossPodsAndResets) {
  CanaryCounter cc(3);
  std::vector<SeriesValue> ce{pod("c1", 5)}, ct{pod("c1", 500)}, be{pod("b1", 10), pod("b2", 10)},
      bt{pod("b1", 1000), pod("b2", 1000)};
  cc.look({&ce, &ct, &be, &bt});
  EXPECT_EQ(cc.test.counted.canary_total, 0) << "the first look sets the bases";
  ce = {pod("c1", 7)};
  ct = {pod("c1", 700)};
  be = {pod("b1", 12), pod("b2", 1)};       // b2 restarted
  bt = {pod("b1", 1200), pod("b2", 100)};
  cc.look({&ce, &ct, &be, &bt});
  EXPECT_EQ(cc.test.counted.canary_errors, 2);
  EXPECT_EQ(cc.test.counted.canary_total, 200);
  EXPECT_EQ(cc.test.counted.baseline_errors, 3);
  EXPECT_EQ(cc.test.counted.baseline_total, 300);
  // The state the reading carries decodes to the same test.
  std::vector<SeriesValue> series = canary_series(cc.test);
  auto back = canary_state_of(series, 3);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->loglik, cc.test.loglik);
  EXPECT_EQ(back->counted.baseline_total, 300);
  EXPECT_FALSE(canary_state_of(series, 2.2)) << "a state folded for another max_ratio is not reused";
}

TEST(CanaryFold, AtAConstantSplitTheFoldEqualsOneInterval) {
  CanaryState many = canary_start(3), one = canary_start(3);
  for (int i = 0; i < 10; ++i) many = canary_fold(many, {3, 100, 1, 300});
  one = canary_fold(one, {30, 1000, 10, 3000});
  for (size_t i = 0; i < one.loglik.size(); ++i) EXPECT_NEAR(many.loglik[i], one.loglik[i], 1e-9) << i;
}

TEST(CanaryFold, AnIntervalWithOneIdleArmWaitsForTheNext) {
  CanaryState s = canary_start(3);
  s = canary_fold(s, {2, 0, 1, 100});  // errors before their requests were counted
  EXPECT_EQ(s.pending.canary_errors, 2);
  for (double x : s.loglik) EXPECT_EQ(x, 0);
  s = canary_fold(s, {0, 0, 0, 50});
  EXPECT_EQ(s.pending.baseline_total, 150);
  s = canary_fold(s, {1, 200, 1, 50});
  EXPECT_EQ(s.pending.canary_errors, 0);
  CanaryState direct = canary_fold(canary_start(3), {3, 200, 2, 200});
  for (size_t i = 0; i < s.loglik.size(); ++i) EXPECT_NEAR(s.loglik[i], direct.loglik[i], 1e-9);
}

TEST(CanaryFold, MaxRatioOffTheGridIsTracked) {
  CanaryState s = canary_start(2.2);
  EXPECT_NE(std::find(s.ratios.begin(), s.ratios.end(), 2.2), s.ratios.end());
  EXPECT_TRUE(std::is_sorted(s.ratios.begin(), s.ratios.end()));
}

// A/A canaries under a ramp (5 % -> 50 % of traffic) with a shared error burst
// in one phase: the per-interval fold stays within alpha; the cumulative test
// (all counts as one interval) does not.
TEST(CanaryFold, FalseAlarmsStayBelowAlphaWhenTheSplitChanges) {
  std::mt19937_64 rng(11);
  const double alpha = 0.01;
  int trials = 400, fold_alarms = 0, cumulative_alarms = 0, fold_healthy = 0;
  for (int t = 0; t < trials; ++t) {
    CanaryState s = canary_start(3);
    ArmCounts total;
    bool fa = false, ca = false;
    for (int look = 0; look < 120; ++look) {
      double share = look < 40 ? 0.05 : look < 80 ? 0.2 : 0.5;
      double p = look >= 40 && look < 80 ? 0.05 : 0.005;  // the shared burst
      int n1 = static_cast<int>(400 * share), n0 = 400 - n1;
      std::binomial_distribution<int> b1(n1, p), b0(n0, p);
      ArmCounts inc{static_cast<double>(b1(rng)), static_cast<double>(n1), static_cast<double>(b0(rng)), static_cast<double>(n0)};
      s = canary_fold(s, inc);
      total += inc;
      fa |= canary_judge(s, alpha).regression;
      ca |= canary_judge(canary_fold(canary_start(3), total), alpha).regression;
    }
    fold_alarms += fa;
    cumulative_alarms += ca;
    fold_healthy += canary_judge(s, alpha).below_max;
  }
  EXPECT_LE(fold_alarms, trials * 2 * alpha) << "per-interval fold";
  EXPECT_GT(cumulative_alarms, trials / 2) << "the cumulative test cries wolf under a ramp";
  EXPECT_GT(fold_healthy, trials / 2) << "equal arms end healthy";
}

}  // namespace
}  // namespace dg
