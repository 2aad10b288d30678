#include "api/snapshot.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <thread>

namespace slipway::api {
namespace {

using namespace std::chrono_literals;

TEST(EpochHoldsTest, TheOldestHoldIsKnownUntilItsLastTokenGoes) {
  EpochHolds holds;
  EXPECT_EQ(holds.Oldest(), std::numeric_limits<int64_t>::max());
  auto a = holds.Hold(3);
  auto b = holds.Hold(5);
  auto c = holds.Hold(3);  // two requests on the same epoch
  EXPECT_EQ(holds.Oldest(), 3);
  a.reset();
  EXPECT_EQ(holds.Oldest(), 3);
  auto copy = c;  // a token shared by the parts of one request counts once
  c.reset();
  EXPECT_EQ(holds.Oldest(), 3);
  copy.reset();
  EXPECT_EQ(holds.Oldest(), 5);
  b.reset();
  EXPECT_EQ(holds.Oldest(), std::numeric_limits<int64_t>::max());
}

TEST(EpochHoldsTest, WaitingForADrainEndsWhenTheOlderHoldsEnd) {
  EpochHolds holds;
  std::atomic<int64_t> told{0};
  holds.OnReleased([&](int64_t oldest) { told = oldest; });
  auto old = holds.Hold(7);
  auto current = holds.Hold(8);
  EXPECT_FALSE(holds.WaitUntilDrained(8, 20ms));  // epoch 7 is still in use
  EXPECT_TRUE(holds.WaitUntilDrained(7, 0ms));
  std::thread request([&] {
    std::this_thread::sleep_for(30ms);
    old.reset();
  });
  EXPECT_TRUE(holds.WaitUntilDrained(8, 5s));
  request.join();
  EXPECT_EQ(told.load(), 8);
}

TEST(EpochHoldsTest, ATokenMayOutliveTheHolds) {
  std::shared_ptr<void> token;
  {
    EpochHolds holds;
    token = holds.Hold(1);
  }
  token.reset();  // no use after free: the state is shared with the token
}

}  // namespace
}  // namespace slipway::api
