#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace slipway::core {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskAndDrainsOnStop) {
  std::atomic<int> ran{0};
  ThreadPool pool("t", 3, 1000);
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.Post([&] { ran++; }).ok());
  pool.Stop();
  EXPECT_EQ(ran.load(), 500);
  EXPECT_EQ(pool.Post([] {}).code(), StatusCode::kUnavailable);
}

TEST(ThreadPoolTest, RefusesWhenQueueIsFull) {
  std::atomic<bool> release{false};
  ThreadPool pool("t", 1, 2);
  ASSERT_TRUE(pool.Post([&] {
                    while (!release) std::this_thread::yield();
                  })
                  .ok());
  // The worker may or may not have taken the first task yet; fill the queue either way.
  Status last;
  for (int i = 0; i < 4 && last.ok(); ++i) last = pool.Post([] {});
  EXPECT_EQ(last.code(), StatusCode::kUnavailable);
  EXPECT_NE(last.message().find("overloaded"), std::string::npos);
  release = true;
}

TEST(ThreadPoolTest, ATaskThatThrowsEndsItselfNotTheThread) {
  std::atomic<int> ran{0};
  ThreadPool pool("t", 1, 100);
  ASSERT_TRUE(pool.Post([] { throw std::runtime_error("boom"); }).ok());
  ASSERT_TRUE(pool.Post([] { throw 42; }).ok());
  ASSERT_TRUE(pool.Post([] { (void)Result<int>(NotFound("nothing")).value(); }).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.Post([&] { ran++; }).ok());
  pool.Stop();
  EXPECT_EQ(ran.load(), 10);  // the one thread outlived three throwing tasks
}

}  // namespace
}  // namespace slipway::core
