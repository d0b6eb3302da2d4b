// The log conditions' pure evaluators on tallies built in fake time:
// new signatures, surges (and what must not trip: the same rates, a vanished
// signature, one burst), the error share, and the windows' edges.
#include <gtest/gtest.h>

#include <random>

#include "agent/core/clock.h"
#include "logs/conditions.h"

namespace dg::logs {
namespace {

using namespace std::chrono_literals;

constexpr SignatureId kOk = 11, kWarn = 22, kNew = 33, kErr = 44;

struct World {
  FakeClock clock;
  LogTally tally{std::chrono::hours(1)};
  TimePoint release{};
  LogWindows windows() const { return LogWindows{.release = release, .baseline = 600s, .window = 600s, .step = 5s}; }
  // `per_second` lines of each signature for `seconds` seconds from now on.
  void run(int seconds, std::vector<std::tuple<SignatureId, int, Level>> mix) {
    for (int s = 0; s < seconds; ++s) {
      for (auto [id, n, level] : mix)
        for (int k = 0; k < n; ++k)
          tally.add(clock.now(), id, level, id == kOk ? "request served in <*> ms" : "editor module list empty for tenant <*>",
                    "raw line");
      clock.advance(1s);
    }
  }
};

TEST(NewSignature, ANewErrorAfterTheReleaseTrips) {
  World w;
  w.run(600, {{kOk, 9, Level::Info}, {kWarn, 1, Level::Warning}});
  w.release = w.clock.now();
  w.run(10, {{kOk, 9, Level::Info}, {kWarn, 1, Level::Warning}});
  NewSignatureCondition c;
  EXPECT_EQ(judge_new_signature(c, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Healthy);
  w.run(2, {{kOk, 9, Level::Info}, {kNew, 1, Level::Error}});
  EXPECT_EQ(judge_new_signature(c, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Healthy) << "2 < min_count";
  w.run(1, {{kNew, 1, Level::Error}});
  auto j = judge_new_signature(c, w.tally, w.windows(), w.clock.now());
  ASSERT_EQ(j.state, LogJudgement::State::Tripped);
  ASSERT_EQ(j.findings.size(), 1u);
  const auto& e = j.findings[0];
  EXPECT_EQ(e.id, kNew);
  EXPECT_EQ(e.after, 3);
  EXPECT_EQ(e.before, 0);
  EXPECT_EQ(e.before_window, 600s);
  EXPECT_TRUE(e.first_seen.has_value());
  EXPECT_FALSE(e.examples.empty());
  EXPECT_NE(e.describe().find("new_signature"), std::string::npos);
}

TEST(NewSignature, LevelPatternAndBaselineDecide) {
  World w;
  w.run(600, {{kOk, 9, Level::Info}, {kWarn, 1, Level::Warning}});
  w.release = w.clock.now();
  w.run(20, {{kOk, 9, Level::Info}, {kWarn, 1, Level::Warning}, {kNew, 1, Level::Warning}});
  NewSignatureCondition at_error;
  EXPECT_EQ(judge_new_signature(at_error, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Healthy)
      << "a new warning is below the level";
  NewSignatureCondition at_warning{.level = Level::Warning};
  auto j = judge_new_signature(at_warning, w.tally, w.windows(), w.clock.now());
  ASSERT_EQ(j.state, LogJudgement::State::Tripped);
  EXPECT_EQ(j.findings.size(), 1u) << "kWarn was in the baseline: not new";
  NewSignatureCondition by_pattern{.level = Level::Unknown, .pattern = *Regex::compile("module list")};
  EXPECT_EQ(judge_new_signature(by_pattern, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Tripped);
}

TEST(Surge, AThreefoldRiseTripsWithCounts) {
  World w;
  w.run(600, {{kOk, 19, Level::Info}, {kWarn, 1, Level::Warning}});
  w.release = w.clock.now();
  SurgeCondition c;
  w.run(4, {{kOk, 17, Level::Info}, {kWarn, 3, Level::Warning}});
  EXPECT_NE(judge_surge(c, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Tripped)
      << "no completed interval yet";
  LogJudgement j;
  int seconds = 4;
  while (seconds < 600) {
    w.run(5, {{kOk, 17, Level::Info}, {kWarn, 3, Level::Warning}});
    seconds += 5;
    j = judge_surge(c, w.tally, w.windows(), w.clock.now());
    if (j.state == LogJudgement::State::Tripped) break;
  }
  ASSERT_EQ(j.state, LogJudgement::State::Tripped);
  EXPECT_LT(seconds, 120) << "3x of a 5 % signature shows within two minutes";
  const auto& e = j.findings.at(0);
  EXPECT_EQ(e.kind, "surge");
  EXPECT_EQ(e.id, kWarn);
  EXPECT_EQ(e.before, 600);
  EXPECT_NEAR(e.ratio, 3, 0.2);
  EXPECT_GE(e.statistic, e.threshold);
  EXPECT_NEAR(e.threshold, std::log(2 / 0.01), 1e-9) << "Bonferroni over the two baseline signatures";
}

TEST(Surge, SameRatesVanishedAndBurstsDoNotTrip) {
  World w;
  w.run(600, {{kOk, 18, Level::Info}, {kWarn, 1, Level::Warning}, {kErr, 1, Level::Error}});
  w.release = w.clock.now();
  w.run(300, {{kOk, 19, Level::Info}, {kWarn, 1, Level::Warning}});
  SurgeCondition c;
  auto j = judge_surge(c, w.tally, w.windows(), w.clock.now());
  EXPECT_EQ(j.state, LogJudgement::State::Healthy);
  ASSERT_EQ(j.info.size(), 1u);
  EXPECT_EQ(j.info[0].kind, "vanished");
  EXPECT_EQ(j.info[0].id, kErr);

  World b;
  std::mt19937 rng(7);
  for (int s = 0; s < 600; ++s) {
    b.run(1, {{kOk, 20, Level::Info}});
    if (s % 10 == 0) b.tally.add(b.clock.now(), kWarn, Level::Warning, "t", "r");
  }
  b.release = b.clock.now();
  b.run(30, {{kOk, 20, Level::Info}});
  for (int k = 0; k < 500; ++k) b.tally.add(b.clock.now(), kWarn, Level::Warning, "t", "r");  // one stack-trace-like burst
  b.run(60, {{kOk, 20, Level::Info}});
  auto jb = judge_surge(c, b.tally, b.windows(), b.clock.now());
  EXPECT_EQ(jb.state, LogJudgement::State::Healthy) << "500 lines in one second count as at most 5 events";
}

TEST(Surge, TheJudgedWindowEndsAndNoDataIsSaid) {
  World w;
  SurgeCondition c;
  w.release = w.clock.now();
  w.run(30, {{kOk, 10, Level::Info}});
  EXPECT_EQ(judge_surge(c, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::NoData) << "no baseline lines";
  World x;
  x.run(600, {{kOk, 10, Level::Info}});
  x.release = x.clock.now();
  EXPECT_EQ(judge_surge(c, x.tally, x.windows(), x.clock.now()).state, LogJudgement::State::NoData) << "nothing since the release";
}

TEST(ErrorShare, RisesTripAndSteadySharesDoNot) {
  World w;
  w.run(600, {{kOk, 49, Level::Info}, {kErr, 1, Level::Error}});
  w.release = w.clock.now();
  ErrorShareCondition c;
  w.run(300, {{kOk, 49, Level::Info}, {kErr, 1, Level::Error}});
  EXPECT_EQ(judge_error_share(c, w.tally, w.windows(), w.clock.now()).state, LogJudgement::State::Healthy);
  World r;
  r.run(600, {{kOk, 49, Level::Info}, {kErr, 1, Level::Error}});
  r.release = r.clock.now();
  r.run(120, {{kOk, 46, Level::Info}, {kErr, 4, Level::Error}});
  auto j = judge_error_share(c, r.tally, r.windows(), r.clock.now());
  ASSERT_EQ(j.state, LogJudgement::State::Tripped);
  EXPECT_EQ(j.findings.at(0).kind, "error_share");
  EXPECT_NEAR(j.findings[0].ratio, 4, 0.1);
}

// A/A: Poisson arrivals with the same rates before and after; over many
// worlds the surge condition trips at most about alpha of the time.
TEST(Surge, AaFalseTripsStayNearAlpha) {
  std::mt19937 rng(12345);
  int trips = 0;
  const int runs = 60;
  for (int r = 0; r < runs; ++r) {
    World w;
    std::poisson_distribution<int> ok(8), warn(1);
    auto second = [&] {
      int a = ok(rng), b = warn(rng);
      w.run(1, {{kOk, a, Level::Info}, {kWarn, b, Level::Warning}});
    };
    for (int s = 0; s < 300; ++s) second();
    w.release = w.clock.now();
    LogWindows win{.release = w.release, .baseline = 300s, .window = 300s, .step = 5s};
    bool tripped = false;
    for (int s = 0; s < 300; ++s) {
      second();
      if (s % 5 == 4 && judge_surge(SurgeCondition{.min_ratio = 1.0}, w.tally, win, w.clock.now()).state == LogJudgement::State::Tripped)
        tripped = true;
    }
    trips += tripped;
  }
  EXPECT_LE(trips, 3) << "alpha 0.01 over 60 runs";
}

}  // namespace
}  // namespace dg::logs
