#include "core/fiber.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace slipway::fiber {
namespace {

using std::chrono::milliseconds;

TEST(FiberTest, KnowsWhereItRuns) {
  EXPECT_FALSE(CanSpawn());
  EXPECT_FALSE(InFiber());
  FiberThread thread;
  bool in_handler = true, in_fiber = false, can_spawn = false;
  thread.Call([&] {
    in_handler = InFiber();
    can_spawn = CanSpawn();
  });
  thread.RunAll({[&] { in_fiber = InFiber(); }});
  EXPECT_FALSE(in_handler);
  EXPECT_TRUE(can_spawn);
  EXPECT_TRUE(in_fiber);
}

// A fiber waiting for a socket leaves its thread free: the other fiber runs meanwhile, and its
// write is what wakes the first.
TEST(FiberTest, WaitingSuspendsOnlyTheFiber) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FiberThread thread;
  std::vector<std::string> order;
  thread.RunAll({[&] {
                   order.push_back("reader waits");
                   Status s = WaitReadable(fds[0]);
                   EXPECT_TRUE(s.ok()) << s.ToString();
                   char c = 0;
                   EXPECT_EQ(read(fds[0], &c, 1), 1);
                   order.push_back(std::string("reader got ") + c);
                   EXPECT_TRUE(InFiber());  // restored after the suspension
                 },
                 [&] {
                   order.push_back("writer writes");
                   EXPECT_EQ(write(fds[1], "x", 1), 1);
                 }});
  EXPECT_EQ(order, (std::vector<std::string>{"reader waits", "writer writes", "reader got x"}));
  close(fds[0]);
  close(fds[1]);
}

TEST(FiberTest, AFiberThatThrowsEndsItselfNotTheThread) {
  FiberThread thread;
  thread.Call([] {
    Spawn([] { throw std::runtime_error("boom"); });
    Spawn([] { throw 42; });
    Spawn([] { (void)Result<int>(NotFound("nothing")).value(); });
  });
  bool ran = false;
  thread.RunAll({[&] { ran = true; }});  // the thread outlived three throwing fibers
  EXPECT_TRUE(ran);
}

TEST(FiberTest, WaitingTimesOutInAndOutsideAFiber) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ(WaitReadable(fds[0], milliseconds(20)).code(), StatusCode::kDeadlineExceeded);
  FiberThread thread;
  Status in_fiber;
  thread.RunAll({[&] { in_fiber = WaitReadable(fds[0], milliseconds(20)); }});
  EXPECT_EQ(in_fiber.code(), StatusCode::kDeadlineExceeded) << in_fiber.ToString();
  EXPECT_TRUE(WaitWritable(fds[1], milliseconds(20)).ok());
  close(fds[0]);
  close(fds[1]);
}

TEST(FiberTest, WaiterWakesOrTimesOut) {
  FiberThread thread;
  Waiter waiter;
  bool woken = false, timed_out = true;
  thread.RunAll({[&] { woken = waiter.Wait(std::chrono::seconds(10)); }, [&] { waiter.Wake(); },
                 [&] {
                   Waiter nobody;
                   timed_out = !nobody.Wait(milliseconds(10));
                 }});
  EXPECT_TRUE(woken);
  EXPECT_TRUE(timed_out);
  // Outside a fiber there is nothing to suspend: Wait says so at once.
  Waiter outside;
  EXPECT_FALSE(outside.Wait(milliseconds(10)));
}

// Deferred work runs after every fiber that was ready has had its turn: that is what lets a
// pipeline send a whole batch at once.
TEST(FiberTest, DeferRunsAfterTheReadyFibers) {
  FiberThread thread;
  std::vector<std::string> order;
  thread.RunAll({[&] {
                   Defer([&] { order.push_back("deferred"); });
                   order.push_back("first");
                 },
                 [&] { order.push_back("second"); },
                 [&] {
                   Waiter w;
                   w.Wait(milliseconds(5));  // let the deferred handler run before returning
                   order.push_back("third, later");
                 }});
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "deferred", "third, later"}));
}

TEST(FiberTest, ManyFibersEachWithItsOwnStack) {
  FiberThread thread;
  std::vector<std::function<void()>> tasks;
  std::vector<int> results(200, 0);
  for (int i = 0; i < 200; ++i) {
    tasks.push_back([&, i] {
      volatile char deep[64 * 1024];  // well inside the 256 KiB stack
      deep[0] = static_cast<char>(i);
      Waiter w;
      w.Wait(milliseconds(1));
      results[i] = deep[0] + 1;
    });
  }
  thread.RunAll(std::move(tasks));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(results[i], static_cast<char>(i) + 1);
}

}  // namespace
}  // namespace slipway::fiber
