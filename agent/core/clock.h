#pragma once
/// Clock: the only source of "now". Injected everywhere so tests advance fake
/// time instead of sleeping.
///
/// Two readings: now() is monotonic — it never jumps when the system clock is
/// stepped (NTP, a person fixing the date) — and drives every schedule,
/// `for`/hold duration and rate; wall() is the calendar time, used only where
/// a record is stamped for people (journal lines) or sent to a peer that
/// expects it (Prometheus' `time=`). now() is expressed on the wall clock's
/// scale, anchored when the clock was made, so it prints as a sensible date.
/// Both implementations are safe to use from several threads.
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace dg {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time (never goes back, never jumps with the system clock).
  virtual TimePoint now() const = 0;
  /// Calendar time, for records only: it may jump.
  virtual TimePoint wall() const = 0;
  /// Blocks (real clock) or jumps (fake clock) until now() reaches `t`.
  virtual void sleep_until(TimePoint t) = 0;
  /// The calendar time that corresponds to a monotonic time point.
  TimePoint to_wall(TimePoint t) const { return t + (wall() - now()); }
};

class SystemClock final : public Clock {
 public:
  using WallSource = std::function<std::chrono::system_clock::time_point()>;
  using MonoSource = std::function<std::chrono::steady_clock::time_point()>;

  SystemClock() : SystemClock(&std::chrono::system_clock::now, &std::chrono::steady_clock::now) {}
  /// Tests substitute the time sources to step the "system clock".
  SystemClock(WallSource wall, MonoSource mono)
      : wall_(std::move(wall)), mono_(std::move(mono)), wall0_(wall_()), mono0_(mono_()) {}

  TimePoint now() const override {
    return wall0_ + std::chrono::duration_cast<TimePoint::duration>(mono_() - mono0_);
  }
  TimePoint wall() const override { return wall_(); }
  void sleep_until(TimePoint t) override {
    std::this_thread::sleep_until(mono0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(t - wall0_));
  }

 private:
  WallSource wall_;
  MonoSource mono_;
  TimePoint wall0_;
  std::chrono::steady_clock::time_point mono0_;
};

/// Deterministic clock for tests: time moves only through advance() and
/// sleep_until(); step_wall() moves only the calendar, as an NTP step would.
/// Reads and moves are atomic, so worker threads may read it while the test
/// thread advances it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{std::chrono::seconds{1'800'000'000}})
      : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint{TimePoint::duration{now_.load()}}; }
  TimePoint wall() const override { return now() + TimePoint::duration{wall_offset_.load()}; }
  void sleep_until(TimePoint t) override {
    auto target = t.time_since_epoch().count();
    auto cur = now_.load();
    while (target > cur && !now_.compare_exchange_weak(cur, target)) {
    }
  }
  void advance(Duration d) { now_ += std::chrono::duration_cast<TimePoint::duration>(d).count(); }
  void step_wall(Duration d) { wall_offset_ += std::chrono::duration_cast<TimePoint::duration>(d).count(); }

 private:
  std::atomic<TimePoint::rep> now_;
  std::atomic<TimePoint::rep> wall_offset_{0};
};

}  // namespace dg
