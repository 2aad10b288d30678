#include "db/schema_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

namespace slipway::db {
namespace {

TEST(FileSchemaLockTest, ExcludesAnotherHolderAndReleases) {
  testing::TempDir dir;
  auto a = MakeFileSchemaLock(dir.path() / "x.lock");
  auto b = MakeFileSchemaLock(dir.path() / "x.lock");
  ASSERT_TRUE(a->Acquire(std::chrono::milliseconds(100)).ok());
  auto try_b = b->TryAcquire();
  ASSERT_TRUE(try_b.ok());
  EXPECT_FALSE(*try_b);
  Status waited = b->Acquire(std::chrono::milliseconds(100));
  EXPECT_EQ(waited.code(), StatusCode::kUnavailable);
  EXPECT_NE(waited.message().find((dir.path() / "x.lock").string()), std::string::npos)
      << waited.message();
  a->Release();
  EXPECT_TRUE(b->Acquire(std::chrono::milliseconds(100)).ok());
}

TEST(FileSchemaLockTest, DiesWithItsProcess) {
  testing::TempDir dir;
  auto path = dir.path() / "x.lock";
  pid_t child = fork();
  if (child == 0) {
    auto lock = MakeFileSchemaLock(path);
    if (!lock->Acquire(std::chrono::seconds(1)).ok()) _exit(1);
    pause();  // killed while holding the lock
    _exit(0);
  }
  auto mine = MakeFileSchemaLock(path);
  bool blocked = false;
  for (int i = 0; i < 100 && !blocked; ++i) {  // wait until the child holds it
    auto got = mine->TryAcquire();
    ASSERT_TRUE(got.ok());
    if (*got) {
      mine->Release();
      usleep(10'000);
    } else {
      blocked = true;
    }
  }
  ASSERT_TRUE(blocked);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(mine->Acquire(std::chrono::seconds(1)).ok());
}

}  // namespace
}  // namespace slipway::db
