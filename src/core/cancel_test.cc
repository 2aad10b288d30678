#include "core/cancel.h"

#include <gtest/gtest.h>

#include <thread>

namespace slipway::core {
namespace {

TEST(CancelTokenTest, RunsCallbacksOnceAndNotAfterUnsubscribe) {
  CancelToken token;
  int first = 0, second = 0;
  uint64_t a = token.Subscribe([&] { ++first; });
  uint64_t b = token.Subscribe([&] { ++second; });
  token.Unsubscribe(b);
  EXPECT_FALSE(token.cancelled());
  token.Cancel();
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
  token.Unsubscribe(a);
  int late = 0;
  token.Subscribe([&] { ++late; });  // already cancelled: at once
  EXPECT_EQ(late, 1);
}

TEST(CancelTokenTest, TheCurrentTokenIsPerThreadAndScoped) {
  CancelToken outer, inner;
  EXPECT_EQ(CurrentCancel(), nullptr);
  {
    CancelScope a(&outer);
    EXPECT_EQ(CurrentCancel(), &outer);
    {
      CancelScope b(&inner);
      EXPECT_EQ(CurrentCancel(), &inner);
      std::thread([] { EXPECT_EQ(CurrentCancel(), nullptr); }).join();
    }
    EXPECT_EQ(CurrentCancel(), &outer);
  }
  EXPECT_EQ(CurrentCancel(), nullptr);
  outer.set_statement_limit(std::chrono::milliseconds(250));
  EXPECT_EQ(outer.statement_limit().count(), 250);
}

}  // namespace
}  // namespace slipway::core
