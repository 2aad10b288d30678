#include "core/cron.h"

#include <gtest/gtest.h>

namespace slipway::core {
namespace {

using namespace std::chrono;

sys_seconds At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

sys_seconds NextOf(std::string_view expr, sys_seconds after) {
  auto c = CronSchedule::Parse(expr);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.status().ToString();
  auto n = c->Next(after);
  EXPECT_TRUE(n.has_value()) << expr;
  return n.value_or(sys_seconds{});
}

TEST(CronTest, NextFollowsEachField) {
  const sys_seconds now = At(2026, 11, 30, 23, 41, 17);  // a Monday
  EXPECT_EQ(NextOf("* * * * *", now), At(2026, 11, 30, 23, 42));
  EXPECT_EQ(NextOf("0 3 * * *", now), At(2026, 12, 1, 3, 0));
  EXPECT_EQ(NextOf("*/15 * * * *", now), At(2026, 11, 30, 23, 45));
  EXPECT_EQ(NextOf("0 0 1 * *", now), At(2026, 12, 1));
  EXPECT_EQ(NextOf("30 2 * * sun", now), At(2026, 12, 6, 2, 30));
  EXPECT_EQ(NextOf("0 9 * * 1-5", At(2026, 12, 4, 10, 0)), At(2026, 12, 7, 9, 0));  // Fri -> Mon
  EXPECT_EQ(NextOf("0 0 * jan *", now), At(2027, 1, 1));
  EXPECT_EQ(NextOf("0 0 29 2 *", now), At(2028, 2, 29));          // the next leap day
  EXPECT_EQ(NextOf("0 12 13 * 5", now), At(2026, 12, 4, 12, 0));  // day 13 OR Friday (Vixie)
  EXPECT_EQ(NextOf("0,30 8-10/2 * * *", now), At(2026, 12, 1, 8, 0));
  EXPECT_EQ(NextOf("*/20 * * * * *", now), At(2026, 11, 30, 23, 41, 20));  // six fields
  EXPECT_EQ(NextOf("0 0 * * 7", now), At(2026, 12, 6));                    // 7 is Sunday too
  EXPECT_EQ(NextOf("59 23 31 12 *", At(2026, 12, 31, 23, 59)), At(2027, 12, 31, 23, 59));
}

TEST(CronTest, ImpossibleSchedulesHaveNoNext) {
  auto c = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->Next(At(2026, 1, 1)).has_value());
}

TEST(CronTest, MalformedExpressionsNameWhatIsWrong) {
  for (auto [expr, says] : std::vector<std::pair<const char*, const char*>>{
           {"", "0 fields"},
           {"* * * *", "4 fields"},
           {"60 * * * *", "minute: 60 is outside 0-59"},
           {"* 24 * * *", "hour"},
           {"* * 0 * *", "day of month"},
           {"* * * 13 *", "month"},
           {"* * * * 8", "day of week"},
           {"* * * * mon-", "day of week"},
           {"5-1 * * * *", "runs backwards"},
           {"*/0 * * * *", "outside"},
           {"x * * * *", "not a number"},
           {"* * * foo *", "not a number or a name"},
       }) {
    auto c = CronSchedule::Parse(expr);
    ASSERT_FALSE(c.ok()) << expr;
    EXPECT_NE(c.status().message().find(says), std::string::npos)
        << expr << ": " << c.status().message();
  }
}

}  // namespace
}  // namespace slipway::core
