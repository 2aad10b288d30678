#include "db/postgres/postgres_schema_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "test_postgres.h"

namespace slipway::db {
namespace {

using std::chrono::milliseconds;
using testing::TestDatabase;

class PostgresSchemaLockTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Create()); }
  std::unique_ptr<SchemaLock> Make() { return MakePostgresSchemaLock(db_.options()); }
  // Runs SQL on a separate administrative session of the test database.
  Status Admin(const std::string& sql) {
    ASSIGN_OR_RETURN(auto conn, OpenPostgres(db_.options()));
    return conn->ExecScript(sql);
  }

  TestDatabase db_;
};

TEST_F(PostgresSchemaLockTest, KeyIsSlipwayInAscii) {
  EXPECT_EQ(kSchemaLockKey, 0x73'6C'69'70'77'61'79);  // s l i p w a y
}

TEST_F(PostgresSchemaLockTest, ExcludesAnotherHolderAndReleases) {
  auto a = Make();
  auto b = Make();
  ASSERT_TRUE(a->Acquire(milliseconds(100)).ok());
  EXPECT_TRUE(a->held());
  auto again = a->TryAcquire();  // the holder asking again is not a second holder
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*again);
  auto try_b = b->TryAcquire();
  ASSERT_TRUE(try_b.ok()) << try_b.status().ToString();
  EXPECT_FALSE(*try_b);
  EXPECT_FALSE(b->held());
  auto started = std::chrono::steady_clock::now();
  Status waited = b->Acquire(milliseconds(200));
  EXPECT_EQ(waited.code(), StatusCode::kUnavailable);
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(200));
  EXPECT_NE(waited.message().find(db_.options().Describe()), std::string::npos) << waited.message();
  a->Release();
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(b->Acquire(milliseconds(200)).ok());
  EXPECT_TRUE(b->held());
}

TEST_F(PostgresSchemaLockTest, WaitingHolderGetsItWhenReleased) {
  auto a = Make();
  auto b = Make();
  ASSERT_TRUE(a->Acquire(milliseconds(100)).ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(200));
    a->Release();
  });
  Status s = b->Acquire(milliseconds(5000));
  releaser.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(PostgresSchemaLockTest, DifferentKeysDoNotExclude) {
  auto a = Make();
  auto other = MakePostgresSchemaLock(db_.options(), kSchemaLockKey + 1);
  ASSERT_TRUE(a->Acquire(milliseconds(100)).ok());
  EXPECT_TRUE(other->Acquire(milliseconds(100)).ok());
}

TEST_F(PostgresSchemaLockTest, ClosingTheHoldersConnectionFreesIt) {
  auto a = Make();
  auto b = Make();
  ASSERT_TRUE(a->Acquire(milliseconds(100)).ok());
  ASSERT_FALSE(*b->TryAcquire());
  a.reset();  // closes its session
  EXPECT_TRUE(b->Acquire(milliseconds(5000)).ok());
}

TEST_F(PostgresSchemaLockTest, LostConnectionIsNoLongerHeld) {
  auto a = Make();
  ASSERT_TRUE(a->Acquire(milliseconds(100)).ok());
  ASSERT_TRUE(Admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND application_name = 'slipway-schema-lock'")
                  .ok());
  bool lost = false;
  for (int i = 0; i < 200 && !lost; ++i) {
    lost = !a->held();
    if (!lost) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(lost);
  auto b = Make();
  EXPECT_TRUE(b->Acquire(milliseconds(1000)).ok());
  // `a` reconnects for its next attempt, and finds b holding the lock.
  auto retry = a->TryAcquire();
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_FALSE(*retry);
}

TEST_F(PostgresSchemaLockTest, DiesWithItsProcess) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    auto lock = Make();
    char ok = lock->Acquire(milliseconds(5000)).ok() ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    pause();  // killed while holding the lock
    _exit(0);
  }
  close(ready[1]);
  char got = 0;
  ASSERT_EQ(read(ready[0], &got, 1), 1);
  close(ready[0]);
  auto mine = Make();
  auto blocked = mine->TryAcquire();
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ(got, '1');
  EXPECT_FALSE(*blocked);  // the child holds it
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(mine->Acquire(milliseconds(5000)).ok());
}

TEST(PostgresSchemaLockOpenTest, UnreachableServerIsUnavailable) {
  PostgresOptions options;
  options.port = static_cast<uint16_t>(testing::FreePort());
  auto lock = MakePostgresSchemaLock(options);
  Status s = lock->Acquire(milliseconds(100));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(options.Describe()), std::string::npos) << s.message();
  EXPECT_FALSE(lock->held());
}

}  // namespace
}  // namespace slipway::db
