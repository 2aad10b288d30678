// Clock: what code that measures time (TTLs, leases, deadlines) asks for the time, so that a test
// moves time forward instead of sleeping. Steady() is the real monotonic clock; ManualClock is
// the test's.
#pragma once

#include <atomic>
#include <chrono>

namespace slipway::core {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // The process's steady clock. Thread-safe; lives for the whole program.
  static const Clock& Steady();
};

// Time that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  TimePoint Now() const override {
    return TimePoint(std::chrono::steady_clock::duration(ticks_.load()));
  }
  void Advance(std::chrono::steady_clock::duration d) { ticks_ += d.count(); }

 private:
  // Starts an hour in, so that Now() minus a TTL is still a valid time point.
  std::atomic<std::chrono::steady_clock::rep> ticks_{
      std::chrono::steady_clock::duration(std::chrono::hours(1)).count()};
};

}  // namespace slipway::core
