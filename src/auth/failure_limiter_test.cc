#include "auth/failure_limiter.h"

#include <gtest/gtest.h>

namespace slipway::auth {
namespace {

using namespace std::chrono_literals;
using Clock = FailureLimiter::Clock;

TEST(FailureLimiterTest, BlocksAtTheLimitUntilTheOldestFailureLeavesTheWindow) {
  FailureLimiter limiter(3, 60s);
  Clock::time_point t0{};
  EXPECT_EQ(limiter.RetryAfter("a", t0), 0);
  limiter.RecordFailure("a", t0);
  limiter.RecordFailure("a", t0 + 10s);
  EXPECT_EQ(limiter.RetryAfter("a", t0 + 10s), 0);
  limiter.RecordFailure("a", t0 + 20s);
  // Three failures: blocked until the first is 60 s old.
  EXPECT_EQ(limiter.RetryAfter("a", t0 + 20s), 41);
  EXPECT_EQ(limiter.RetryAfter("a", t0 + 59s), 2);
  EXPECT_EQ(limiter.RetryAfter("a", t0 + 60s), 0);
  // Other keys are unaffected.
  EXPECT_EQ(limiter.RetryAfter("b", t0 + 20s), 0);
}

TEST(FailureLimiterTest, SuccessForgetsTheFailures) {
  FailureLimiter limiter(2, 60s);
  Clock::time_point t0{};
  limiter.RecordFailure("a", t0);
  limiter.RecordFailure("a", t0);
  EXPECT_GT(limiter.RetryAfter("a", t0), 0);
  limiter.Reset("a");
  EXPECT_EQ(limiter.RetryAfter("a", t0), 0);
}

TEST(FailureLimiterTest, RemembersABoundedNumberOfKeys) {
  FailureLimiter limiter(1, 60s, /*max_keys=*/100);
  Clock::time_point t0{};
  for (int i = 0; i < 10000; ++i) limiter.RecordFailure("k" + std::to_string(i), t0);
  int blocked = 0;
  for (int i = 0; i < 10000; ++i) blocked += limiter.RetryAfter("k" + std::to_string(i), t0) > 0;
  EXPECT_LE(blocked, 100);
  EXPECT_GT(limiter.RetryAfter("k9999", t0), 0);  // the latest is kept
}

TEST(ClientAddressTest, BelievesForwardedForOnlyFromTrustedProxies) {
  const std::vector<std::string> proxies = {"10.0.0.1", "10.0.0.2"};
  EXPECT_EQ(ClientAddress("203.0.113.9", "1.2.3.4", proxies), "203.0.113.9");
  EXPECT_EQ(ClientAddress("10.0.0.1", "", proxies), "10.0.0.1");
  EXPECT_EQ(ClientAddress("10.0.0.1", "1.2.3.4", proxies), "1.2.3.4");
  // A client's own forged entries sit left of what the proxies appended.
  EXPECT_EQ(ClientAddress("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", proxies), "1.2.3.4");
  EXPECT_EQ(ClientAddress("10.0.0.1", "10.0.0.2", proxies), "10.0.0.1");
}

}  // namespace
}  // namespace slipway::auth
