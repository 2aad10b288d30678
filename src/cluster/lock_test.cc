#include "cluster/lock.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "cluster/database/database_lock.h"
#include "cluster/memory/memory_lock.h"
#include "cluster/redis/redis_lock.h"
#include "db/sql.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using slipway::testing::TestRedis;
using testing::Backend;
using testing::UniqueName;
using Clock = std::chrono::steady_clock;

class LeaseLockTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      ASSERT_TRUE(TestRedis::Shared().Start());
    }
    if (testing::IsDatabase(GetParam())) {
      db_ = std::make_unique<testing::ClusterDatabase>(testing::DialectOf(GetParam()));
      ASSERT_TRUE(db_->Create());
    }
    table_ = std::make_shared<memory::MemoryLockTable>();
    name_ = UniqueName("lock");
  }
  // A lock as another node sees it: same Redis, same database, or same lock table.
  std::unique_ptr<LeaseLock> MakeLock() {
    switch (GetParam()) {
      case Backend::kMemory:
        return std::make_unique<memory::MemoryLeaseLock>(table_);
      case Backend::kRedis:
        return std::make_unique<redis::RedisLeaseLock>(testing::ClientFor(TestRedis::Shared()));
      case Backend::kPostgres:
      case Backend::kSqlite:
        // Each "node" has a pool of its own on the shared database.
        pools_.push_back(std::make_unique<db::Pool>(db_->dialect(), db_->factory(), 2));
        return std::make_unique<database::DatabaseLeaseLock>(*pools_.back());
    }
    return nullptr;
  }

  std::unique_ptr<testing::ClusterDatabase> db_;
  std::vector<std::unique_ptr<db::Pool>> pools_;  // declared after db_: closed before it
  std::shared_ptr<memory::MemoryLockTable> table_;
  std::string name_;
};

TEST_P(LeaseLockTest, ExcludesOthersUntilReleased) {
  auto a = MakeLock();
  auto b = MakeLock();
  auto ta = a->TryAcquire(name_, 10s);
  ASSERT_TRUE(ta.ok()) << ta.status().ToString();
  ASSERT_TRUE(ta->has_value());
  auto tb = b->TryAcquire(name_, 10s);
  ASSERT_TRUE(tb.ok());
  EXPECT_FALSE(tb->has_value());
  // The same object does not hold it twice either: the lock is per name, not per object.
  EXPECT_FALSE(a->TryAcquire(name_, 10s)->has_value());
  // Another name is independent.
  EXPECT_TRUE(b->TryAcquire(name_ + "-other", 10s)->has_value());

  auto released = a->Release(name_, **ta);
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(*released);
  auto again = b->TryAcquire(name_, 10s);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_NE(**again, **ta) << "tokens are random per acquisition";
}

TEST_P(LeaseLockTest, ExpiresAfterItsTtl) {
  auto a = MakeLock();
  auto b = MakeLock();
  auto ta = a->TryAcquire(name_, 150ms);
  ASSERT_TRUE(ta.ok() && ta->has_value());
  EXPECT_FALSE(b->TryAcquire(name_, 150ms)->has_value());
  std::this_thread::sleep_for(250ms);
  auto tb = b->TryAcquire(name_, 10s);
  ASSERT_TRUE(tb.ok());
  ASSERT_TRUE(tb->has_value());
  // The first holder's lease is gone: it can neither extend nor release b's lock.
  EXPECT_FALSE(*a->Extend(name_, **ta, 10s));
  EXPECT_FALSE(*a->Release(name_, **ta));
  EXPECT_FALSE(a->TryAcquire(name_, 10s)->has_value());
}

TEST_P(LeaseLockTest, ExtendKeepsItPastTheFirstTtl) {
  auto a = MakeLock();
  auto b = MakeLock();
  auto ta = a->TryAcquire(name_, 300ms);
  ASSERT_TRUE(ta.ok() && ta->has_value());
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(150ms);
    auto extended = a->Extend(name_, **ta, 300ms);
    ASSERT_TRUE(extended.ok());
    EXPECT_TRUE(*extended) << "round " << i;
  }
  // 600 ms after the first TTL ran out, it is still held.
  EXPECT_FALSE(b->TryAcquire(name_, 1s)->has_value());
}

TEST_P(LeaseLockTest, RefusesAWrongToken) {
  auto a = MakeLock();
  auto b = MakeLock();
  auto ta = a->TryAcquire(name_, 10s);
  ASSERT_TRUE(ta.ok() && ta->has_value());
  auto extend = b->Extend(name_, "not-the-token", 10s);
  ASSERT_TRUE(extend.ok());
  EXPECT_FALSE(*extend);
  auto release = b->Release(name_, "not-the-token");
  ASSERT_TRUE(release.ok());
  EXPECT_FALSE(*release);
  EXPECT_FALSE(b->TryAcquire(name_, 10s)->has_value()) << "a wrong token must not release it";
  EXPECT_FALSE(*b->Release(name_ + "-never-held", **ta));
  EXPECT_TRUE(*a->Release(name_, **ta));
  EXPECT_FALSE(*a->Release(name_, **ta)) << "released once only";
}

TEST_P(LeaseLockTest, AcquireWaitsForARelease) {
  auto a = MakeLock();
  auto b = MakeLock();
  auto ta = a->TryAcquire(name_, 10s);
  ASSERT_TRUE(ta.ok() && ta->has_value());
  std::thread releaser([&] {
    std::this_thread::sleep_for(150ms);
    EXPECT_TRUE(*a->Release(name_, **ta));
  });
  auto start = Clock::now();
  auto tb = b->Acquire(name_, 10s, 3s);
  auto waited = Clock::now() - start;
  releaser.join();
  ASSERT_TRUE(tb.ok()) << tb.status().ToString();
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 1500ms);
}

TEST_P(LeaseLockTest, AcquireGivesUpAfterWaiting) {
  auto a = MakeLock();
  auto b = MakeLock();
  ASSERT_TRUE(a->TryAcquire(name_, 10s)->has_value());
  auto start = Clock::now();
  auto tb = b->Acquire(name_, 10s, 200ms);
  auto waited = Clock::now() - start;
  EXPECT_EQ(tb.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(tb.status().message().find(name_), std::string::npos);
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 1000ms);
  // A lease that expires while waiting ends the wait.
  auto c = MakeLock();
  std::string short_name = name_ + "-short";
  ASSERT_TRUE(a->TryAcquire(short_name, 150ms)->has_value());
  EXPECT_TRUE(c->Acquire(short_name, 10s, 3s).ok());
}

TEST_P(LeaseLockTest, OnlyOneOfManyContendersHoldsItAtATime) {
  std::vector<std::unique_ptr<LeaseLock>> locks;
  for (int i = 0; i < 4; ++i) locks.push_back(MakeLock());
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        auto token = locks[i]->Acquire(name_, 5s, 5s);
        if (!token.ok()) continue;
        int now = ++inside;
        max_inside = std::max(max_inside.load(), now);
        std::this_thread::sleep_for(2ms);
        --inside;
        (void)locks[i]->Release(name_, *token);
        ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 20);
  EXPECT_EQ(max_inside, 1);
}

TEST_P(LeaseLockTest, RefusesBadArguments) {
  auto a = MakeLock();
  EXPECT_EQ(a->TryAcquire("", 1s).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->TryAcquire(name_, 0ms).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Acquire(name_, -1ms, 1s).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Extend(name_, "t", 0ms).status().code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, LeaseLockTest,
                         ::testing::Values(Backend::kMemory, Backend::kRedis, Backend::kPostgres,
                                           Backend::kSqlite),
                         testing::BackendName);

// The database's locks: expiry is the database's to judge, and a stalled holder cannot touch the
// lock once another owner took it.
class DatabaseLeaseLockTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Create()); }
  testing::ClusterDatabase db_{GetParam()};
};

TEST_P(DatabaseLeaseLockTest, ExpiryIsJudgedByTheDatabasesClock) {
  database::DatabaseLeaseLock a(db_.pool());
  database::DatabaseLeaseLock b(db_.pool());
  std::string name = UniqueName("lock");
  auto ta = a.TryAcquire(name, 1h);
  ASSERT_TRUE(ta.ok() && ta->has_value()) << ta.status().ToString();
  // The row says when, by the database's clock, the lease ends: an hour from its "now".
  std::string now = db::SqlNowMillis(GetParam());
  int64_t left =
      db_.Int("SELECT expires_ms - " + now + " FROM slipway_locks WHERE name = '" + name + "'");
  EXPECT_GT(left, 3590'000);
  EXPECT_LE(left, 3600'000);
  EXPECT_FALSE(b.TryAcquire(name, 1h)->has_value());
  // The database's clock passes the expiry (the row is aged, as an hour going by would): the lock
  // is free for another owner at once, whatever the first holder's process believes.
  ASSERT_TRUE(db_.Exec("UPDATE slipway_locks SET expires_ms = " + now + " - 1").ok());
  auto tb = b.TryAcquire(name, 1h);
  ASSERT_TRUE(tb.ok() && tb->has_value()) << tb.status().ToString();
  EXPECT_FALSE(*a.Extend(name, **ta, 1h)) << "the first holder cannot extend it back";
  EXPECT_FALSE(*a.Release(name, **ta));
  EXPECT_TRUE(*b.Extend(name, **tb, 1h));
}

TEST_P(DatabaseLeaseLockTest, UnavailableWhenTheDatabaseCannotBeReached) {
  db::Pool dead(
      GetParam(), [] { return Result<std::unique_ptr<db::Connection>>(Unavailable("db is down")); },
      1);
  database::DatabaseLeaseLock lock(dead);
  auto taken = lock.TryAcquire("x", 1s);
  EXPECT_EQ(taken.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(taken.status().message().find("lock 'x'"), std::string::npos)
      << taken.status().message();
}

INSTANTIATE_TEST_SUITE_P(Dialects, DatabaseLeaseLockTest,
                         ::testing::ValuesIn(slipway::testing::kAllDialects),
                         slipway::testing::DialectTestName);

TEST(RedisLeaseLockTest, StoresTheTokenUnderItsKeyWithTheTtl) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  redis::RedisLeaseLock lock(testing::ClientFor(TestRedis::Shared()));
  auto raw = testing::ClientFor(TestRedis::Shared());
  std::string name = UniqueName("lock");
  auto token = lock.TryAcquire(name, 5s);
  ASSERT_TRUE(token.ok() && token->has_value());
  auto value = raw->Call({"GET", "slipway:lock:" + name});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->str, **token);
  auto ttl = raw->Call({"PTTL", "slipway:lock:" + name});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 4000);
  EXPECT_LE(ttl->integer, 5000);
}

TEST(RedisLeaseLockTest, UnavailableWhileRedisIsDown) {
  TestRedis server;
  ASSERT_TRUE(server.Start());
  redis::RedisLeaseLock lock(testing::ClientFor(server));
  ASSERT_TRUE(server.Stop());
  EXPECT_EQ(lock.TryAcquire("x", 1s).status().code(), StatusCode::kUnavailable);
  auto start = Clock::now();
  EXPECT_EQ(lock.Acquire("x", 1s, 5s).status().code(), StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, 500ms) << "an unreachable Redis is not waited for";
  EXPECT_EQ(lock.Release("x", "t").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace slipway::cluster
