// The clock: schedules and durations follow a monotonic source, records the
// calendar; the fake clock can be read from worker threads while it moves.
#include "agent/core/clock.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace dg {
namespace {

using namespace std::chrono_literals;

struct Sources {
  std::chrono::system_clock::time_point wall{std::chrono::seconds{1'800'000'000}};
  std::chrono::steady_clock::time_point mono{std::chrono::seconds{42}};
  SystemClock clock() {
    return SystemClock([this] { return wall; }, [this] { return mono; });
  }
};

TEST(SystemClock, NowIgnoresAStepOfTheSystemClock) {
  Sources src;
  SystemClock clock = src.clock();
  TimePoint t0 = clock.now();
  EXPECT_EQ(t0, src.wall) << "monotonic time is anchored on the calendar";
  src.mono += 5s;
  src.wall -= 1h;  // someone sets the date back an hour
  EXPECT_EQ(clock.now() - t0, 5s) << "a hold_for or rate must not see the step";
  EXPECT_EQ(clock.wall(), src.wall) << "records get the calendar as it is";
  src.wall += 3h;
  EXPECT_EQ(clock.now() - t0, 5s);
}

TEST(SystemClock, ToWallMapsMonotonicTimeToTheCalendar) {
  Sources src;
  SystemClock clock = src.clock();
  TimePoint start = clock.now();
  src.mono += 10s;
  src.wall += 10s - 30min;  // a step back by 30 min while 10 s went by
  EXPECT_EQ(clock.to_wall(start), src.wall - 10s) << "what the calendar said 10 s of real time ago, after the step";
}

TEST(SystemClock, RealSourcesMoveForward) {
  SystemClock clock;
  TimePoint a = clock.now();
  TimePoint b = clock.now();
  EXPECT_LE(a, b);
  EXPECT_LT(std::chrono::abs(clock.wall() - clock.now()), 1h);
}

TEST(FakeClock, WallStepsLeaveMonotonicTimeAlone) {
  FakeClock clock;
  TimePoint t0 = clock.now();
  clock.step_wall(-Duration{3'600'000});
  EXPECT_EQ(clock.now(), t0);
  EXPECT_EQ(clock.wall(), t0 - 1h);
  clock.advance(Duration{1000});
  EXPECT_EQ(clock.now(), t0 + 1s);
  EXPECT_EQ(clock.wall(), t0 + 1s - 1h);
  clock.sleep_until(t0);  // never backwards
  EXPECT_EQ(clock.now(), t0 + 1s);
}

TEST(FakeClock, SafeToReadFromOtherThreadsWhileItMoves) {
  FakeClock clock;
  TimePoint t0 = clock.now();
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  std::atomic<int> backwards{0};
  for (int i = 0; i < 3; ++i)
    readers.emplace_back([&] {
      TimePoint last = clock.now();
      while (!done.load()) {
        TimePoint t = clock.now();
        if (t < last) ++backwards;
        last = t;
      }
    });
  for (int i = 0; i < 20'000; ++i) {
    if (i % 2) clock.advance(Duration{1});
    else clock.sleep_until(clock.now() + Duration{1});
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(clock.now() - t0, Duration{20'000});
}

}  // namespace
}  // namespace dg
