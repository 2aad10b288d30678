// Clock: what code that measures time (TTLs, leases, deadlines) asks for the time, so that a test
// moves time forward instead of sleeping. Steady() is the real monotonic clock; ManualClock is
// the test's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

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

// A wall-clock time in UTC as text, by strftime's `format` (ISO 8601 by default:
// 2026-12-01T09:28:55Z); thread-safe.
std::string UtcText(std::time_t t, const char* format = "%Y-%m-%dT%H:%M:%SZ");
inline std::string UtcNowText(const char* format = "%Y-%m-%dT%H:%M:%SZ") {
  return UtcText(std::time(nullptr), format);
}

// Milliseconds since `start`, with a fraction: what log lines report as `ms`.
inline double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// A duration in whole milliseconds (truncated), for messages and options.
inline int64_t ToMillis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace slipway::core
