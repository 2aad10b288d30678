// Cron expressions, for schedules (backupSettings' schedule, issue 13): when a job is due next.
//
//   minute hour day-of-month month day-of-week            "0 3 * * *": every day at 03:00
//   second minute hour day-of-month month day-of-week     six fields, as NocoBase's cron accepts
//
// Each field: `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` or `a/n`, and lists of
// those separated by commas. Months may be named (jan..dec), days of the week too (sun..sat;
// 0 and 7 are Sunday). As in Vixie cron, when both day-of-month and day-of-week are restricted,
// a day matching either is due. Times are UTC.
//
// Failures: InvalidArgument naming the field and what is wrong. Thread-safety: a parsed
// Schedule is immutable.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::core {

class CronSchedule {
 public:
  static Result<CronSchedule> Parse(std::string_view expression);

  // The first instant strictly after `after` (whole seconds) that the schedule matches, or
  // nothing when none comes within eight years (e.g. "0 0 30 2 *").
  std::optional<std::chrono::sys_seconds> Next(std::chrono::sys_seconds after) const;

  const std::string& expression() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 (Sunday)..6
  bool days_restricted_ = false, weekdays_restricted_ = false;
};

}  // namespace slipway::core
