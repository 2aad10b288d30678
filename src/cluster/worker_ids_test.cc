#include "cluster/worker_ids.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "cluster/cluster_test_util.h"
#include "cluster/database/database_worker_ids.h"
#include "cluster/memory/memory_worker_ids.h"
#include "cluster/redis/redis_worker_ids.h"
#include "core/ids.h"
#include "db/sql.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using slipway::testing::TestRedis;
using testing::Backend;

// The stores' operations, the same on every backend. Each "node" is a store object of its own
// (its own connection) on the shared backend; owners are "<node>/<token>" as WorkerIdLease makes
// them. Redis tests use a server of their own: they count and steal worker keys.
class WorkerIdStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() { server_ = new TestRedis; }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    switch (GetParam()) {
      case Backend::kRedis:
        ASSERT_TRUE(server_->Start());
        ASSERT_TRUE(testing::ClientFor(*server_)->Call({"FLUSHALL"}).ok());
        break;
      case Backend::kPostgres:
      case Backend::kSqlite:
        db_ = std::make_unique<testing::ClusterDatabase>(testing::DialectOf(GetParam()));
        ASSERT_TRUE(db_->Create());
        break;
      case Backend::kMemory:
        break;
    }
  }
  std::unique_ptr<WorkerIdStore> Make() {
    switch (GetParam()) {
      case Backend::kMemory:
        return std::make_unique<memory::MemoryWorkerIdStore>(table_);
      case Backend::kRedis:
        return std::make_unique<redis::RedisWorkerIdStore>(testing::ClientFor(*server_));
      case Backend::kPostgres:
      case Backend::kSqlite:
        return std::make_unique<database::DatabaseWorkerIdStore>(db_->dialect(), db_->factory());
    }
    return nullptr;
  }
  // Ends every live lease on `id` now, as the store's clock passing its expiry would.
  void ExpireInStore(int id) {
    switch (GetParam()) {
      case Backend::kRedis:
        ASSERT_TRUE(
            testing::ClientFor(*server_)->Call({"DEL", redis::RedisWorkerIdStore::Key(id)}).ok());
        break;
      case Backend::kPostgres:
      case Backend::kSqlite:
        ASSERT_TRUE(db_->Exec("UPDATE slipway_worker_ids SET expires_ms = " +
                              db::SqlNowMillis(db_->dialect()) +
                              " - 1 WHERE worker_id = " + std::to_string(id))
                        .ok());
        break;
      case Backend::kMemory:
        table_->Forget();
        break;
    }
  }

  static TestRedis* server_;
  std::shared_ptr<memory::MemoryWorkerIdTable> table_ =
      std::make_shared<memory::MemoryWorkerIdTable>();
  std::unique_ptr<testing::ClusterDatabase> db_;
};
TestRedis* WorkerIdStoreTest::server_ = nullptr;

TEST_P(WorkerIdStoreTest, ConcurrentNodesGetDistinctIdsThatGenerateDistinctSnowflakes) {
  constexpr int kNodes = 8;
  std::vector<std::unique_ptr<WorkerIdStore>> stores;
  for (int i = 0; i < kNodes; ++i) stores.push_back(Make());
  std::vector<int> ids(kNodes, -1);
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> threads;
  // All at once, each from its own connection: the store alone must keep them apart.
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      auto id = stores[i]->Acquire("node-" + std::to_string(i) + "/t", -1, 60s);
      if (id.ok()) {
        ids[i] = *id;
      } else {
        errors[i] = id.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<int> distinct;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_GE(ids[i], 0) << "node " << i << ": " << errors[i];
    ASSERT_LE(ids[i], WorkerIdStore::kMaxWorkerId);
    distinct.insert(ids[i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kNodes));

  // The point of it: Snowflake ids from the nodes never collide.
  std::unordered_set<int64_t> seen;
  for (int id : ids) {
    auto gen = core::SnowflakeGenerator::Create(id);
    ASSERT_TRUE(gen.ok());
    for (int i = 0; i < 2000; ++i) {
      auto next = (*gen)->Next();
      ASSERT_TRUE(next.ok());
      ASSERT_TRUE(seen.insert(*next).second) << "duplicate id " << *next;
    }
  }
}

TEST_P(WorkerIdStoreTest, ThePreferredIdIsTakenWhenFreeOrAlreadyOurs) {
  auto a = Make();
  auto b = Make();
  auto first = a->Acquire("a/1", -1, 60s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // Asking again for the id it holds keeps it (the lease is extended, not lost).
  EXPECT_EQ(*a->Acquire("a/1", *first, 60s), *first);
  // Another owner preferring it gets another id.
  auto other = b->Acquire("b/1", *first, 60s);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
  // A free id is taken as preferred.
  int wanted = (*first + 7) % (WorkerIdStore::kMaxWorkerId + 1);
  if (wanted == *other) wanted = (wanted + 1) % (WorkerIdStore::kMaxWorkerId + 1);
  EXPECT_EQ(*b->Acquire("b/2", wanted, 60s), wanted);
}

TEST_P(WorkerIdStoreTest, RenewalIsRefusedOnceTheIdWasTakenOver) {
  auto a = Make();
  auto b = Make();
  auto id = a->Acquire("a/1", -1, 60s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(*a->Renew(*id, "a/1", 60s));
  EXPECT_FALSE(*b->Renew(*id, "b/1", 60s)) << "not b's lease";
  // The lease ends in the store (expiry, or a store that forgot), and b takes the id.
  ExpireInStore(*id);
  EXPECT_FALSE(*a->Renew(*id, "a/1", 60s)) << "an expired lease is not renewed";
  EXPECT_EQ(*b->Acquire("b/1", *id, 60s), *id);
  EXPECT_FALSE(*a->Renew(*id, "a/1", 60s)) << "nor one that changed hands";
  // a's release does not free b's id.
  ASSERT_TRUE(a->Release(*id, "a/1").ok());
  EXPECT_TRUE(*b->Renew(*id, "b/1", 60s));
  EXPECT_NE(*Make()->Acquire("c/1", *id, 60s), *id);
}

TEST_P(WorkerIdStoreTest, ReleaseFreesTheId) {
  auto a = Make();
  auto id = a->Acquire("a/1", -1, 60s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(a->Release(*id, "a/1").ok());
  EXPECT_FALSE(*a->Renew(*id, "a/1", 60s));
  EXPECT_EQ(*Make()->Acquire("b/1", *id, 60s), *id);
  ASSERT_TRUE(a->Release(*id, "a/1").ok()) << "releasing what is not ours is harmless";
}

TEST_P(WorkerIdStoreTest, ExhaustedWhenEveryIdIsTakenAndFreeAgainAfterARelease) {
  auto a = Make();
  std::vector<int> held;
  for (int i = 0; i <= WorkerIdStore::kMaxWorkerId; ++i) {
    auto id = a->Acquire("a/" + std::to_string(i), i, 60s);
    ASSERT_TRUE(id.ok()) << i << ": " << id.status().ToString();
    held.push_back(*id);
  }
  auto none = Make()->Acquire("b/1", 17, 60s);
  EXPECT_EQ(none.status().code(), StatusCode::kResourceExhausted) << none.status().ToString();
  ASSERT_TRUE(a->Release(held[517], "a/517").ok());
  auto freed = Make()->Acquire("b/1", -1, 60s);
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(*freed, held[517]);
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkerIdStoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kRedis, Backend::kPostgres,
                                           Backend::kSqlite),
                         testing::BackendName);

// The database's store: expiry by the database's clock, and the order in which ids are handed on.
class DatabaseWorkerIdStoreTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Create()); }
  std::unique_ptr<database::DatabaseWorkerIdStore> Make() {
    return std::make_unique<database::DatabaseWorkerIdStore>(GetParam(), db_.factory());
  }
  testing::ClusterDatabase db_{GetParam()};
};

TEST_P(DatabaseWorkerIdStoreTest, LeasesLastTheirTtlByTheDatabasesClock) {
  auto a = Make();
  auto id = a->Acquire("node-a/x", -1, 300ms);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  std::string now = db::SqlNowMillis(GetParam());
  std::string row = " FROM slipway_worker_ids WHERE worker_id = " + std::to_string(*id);
  int64_t left = db_.Int("SELECT expires_ms - " + now + row);
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 300);
  EXPECT_EQ(db_.Int("SELECT count(*)" + row + " AND node_id = 'node-a'"), 1);
  auto b = Make();
  EXPECT_NE(*b->Acquire("node-b/y", *id, 10s), *id) << "live: not for another owner";
  // Once the database's clock passed the expiry, the id is anyone's, and a's renewal is refused.
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(*a->Renew(*id, "node-a/x", 300ms));
  EXPECT_EQ(*b->Acquire("node-b/y", *id, 10s), *id);
}

TEST_P(DatabaseWorkerIdStoreTest, HandsOnTheIdUnusedTheLongest) {
  auto a = Make();
  // Every id has been used; ids 40, 41 and 42 were let go, 41 first.
  std::string now = db::SqlNowMillis(GetParam());
  for (int i = 0; i <= WorkerIdStore::kMaxWorkerId; ++i) {
    ASSERT_TRUE(a->Acquire("old/" + std::to_string(i), i, 60s).ok());
  }
  ASSERT_TRUE(
      db_.Exec("UPDATE slipway_worker_ids SET expires_ms = " + now + " - 5000 WHERE worker_id = 41")
          .ok());
  ASSERT_TRUE(db_.Exec("UPDATE slipway_worker_ids SET expires_ms = " + now +
                       " - 1000 WHERE worker_id IN (40, 42)")
                  .ok());
  EXPECT_EQ(*Make()->Acquire("new/1", -1, 60s), 41);
}

TEST_P(DatabaseWorkerIdStoreTest, UnavailableWhileTheDatabaseCannotBeReached) {
  database::DatabaseWorkerIdStore store(GetParam(), [] {
    return Result<std::unique_ptr<db::Connection>>(Unavailable("connection refused (test)"));
  });
  auto id = store.Acquire("a/1", -1, 1s);
  EXPECT_EQ(id.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(id.status().message().find("connection refused"), std::string::npos);
  EXPECT_EQ(store.Renew(3, "a/1", 1s).status().code(), StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Dialects, DatabaseWorkerIdStoreTest,
                         ::testing::ValuesIn(slipway::testing::kAllDialects),
                         slipway::testing::DialectTestName);

// Redis: a restart without persistence forgets every lease.
class RedisWorkerIdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  TestRedis server_;
};

TEST_F(RedisWorkerIdStoreTest, StoresTheOwnerUnderTheKeyWithTheTtlAndForgetsItOnARestart) {
  redis::RedisWorkerIdStore store(testing::ClientFor(server_));
  EXPECT_TRUE(store.may_forget());
  auto id = store.Acquire("node-a/x", -1, 600ms);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto raw = testing::ClientFor(server_);
  EXPECT_EQ(raw->Call({"GET", redis::RedisWorkerIdStore::Key(*id)})->str, "node-a/x");
  auto ttl = raw->Call({"PTTL", redis::RedisWorkerIdStore::Key(*id)});
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 600);
  ASSERT_TRUE(server_.Restart());
  EXPECT_TRUE(testing::Eventually([&] {
    auto renewed = store.Renew(*id, "node-a/x", 600ms);
    return renewed.ok() && !*renewed;
  }));
}

TEST_F(RedisWorkerIdStoreTest, UnavailableWhileRedisIsDown) {
  redis::RedisWorkerIdStore store(testing::ClientFor(server_));
  ASSERT_TRUE(server_.Stop());
  EXPECT_EQ(store.Acquire("a/1", -1, 1s).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.Renew(1, "a/1", 1s).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace slipway::cluster
