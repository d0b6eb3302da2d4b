#pragma once
/// Clock: the only source of "now". Injected everywhere so tests advance fake
/// time instead of sleeping. Not thread-safe unless stated by the implementation.
#include <chrono>
#include <thread>

namespace dg {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  /// Blocks (real clock) or jumps (fake clock) until `t`.
  virtual void sleep_until(TimePoint t) = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  void sleep_until(TimePoint t) override { std::this_thread::sleep_until(t); }
};

/// Deterministic clock for tests: time moves only through advance()/sleep_until().
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{std::chrono::seconds{1'800'000'000}}) : now_(start) {}
  TimePoint now() const override { return now_; }
  void sleep_until(TimePoint t) override {
    if (t > now_) now_ = t;
  }
  void advance(Duration d) { now_ += d; }

 private:
  TimePoint now_;
};

}  // namespace dg
