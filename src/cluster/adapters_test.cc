#include "cluster/adapters.h"

#include <gtest/gtest.h>

#include <atomic>

#include "cluster/cluster_test_util.h"
#include "cluster/database/database_lock.h"
#include "cluster/database/database_worker_ids.h"
#include "cluster/database/postgres_sync_bus.h"
#include "cluster/memory/memory_cache.h"
#include "cluster/memory/memory_sync_bus.h"
#include "cluster/redis/redis_cache.h"
#include "cluster/redis/redis_lock.h"
#include "cluster/redis/redis_sync_bus.h"
#include "cluster/redis/redis_worker_ids.h"
#include "db/sql.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using core::MapEnvironment;
using slipway::testing::TestRedis;

template <typename T, typename U>
bool Is(const std::unique_ptr<U>& p) {
  return dynamic_cast<T*>(p.get()) != nullptr;
}

// A database that is never reached: MakeAdapters does no I/O.
class Unreached {
 public:
  explicit Unreached(db::Dialect dialect)
      : pool_(
            dialect, [] { return Result<std::unique_ptr<db::Connection>>(Unavailable("no")); }, 1) {
  }
  DatabaseAccess Access() {
    DatabaseAccess a;
    a.pool = &pool_;
    a.connect = [] { return Result<std::unique_ptr<db::Connection>>(Unavailable("no")); };
    if (pool_.dialect() == db::Dialect::kPostgres) a.postgres = db::PostgresOptions();
    return a;
  }

 private:
  db::Pool pool_;
};

struct Kinds {
  std::string bus, lock, cache, worker_ids;
};

Result<Kinds> Choose(std::map<std::string, std::string> vars,
                     db::Dialect dialect = db::Dialect::kPostgres) {
  Unreached database(dialect);
  ASSIGN_OR_RETURN(Adapters a,
                   MakeAdapters(MapEnvironment(std::move(vars)), "node-1", database.Access()));
  return Kinds{a.bus->status().backend, std::string(a.lock->backend()),
               std::string(a.cache->backend()), std::string(a.worker_ids->store().backend())};
}

void ExpectKinds(const Result<Kinds>& k, const std::string& bus, const std::string& lock,
                 const std::string& cache, const std::string& worker_ids) {
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->bus, bus);
  EXPECT_EQ(k->lock, lock);
  EXPECT_EQ(k->cache, cache);
  EXPECT_EQ(k->worker_ids, worker_ids);
}

TEST(MakeAdaptersTest, WithoutRedisTheDatabaseIsTheCluster) {
  Unreached postgres(db::Dialect::kPostgres);
  auto a = MakeAdapters(MapEnvironment{}, "node-1", postgres.Access());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(Is<database::PostgresSyncBus>(a->bus));
  EXPECT_TRUE(Is<database::DatabaseLeaseLock>(a->lock));
  EXPECT_TRUE(Is<memory::MemoryCache>(a->cache));
  EXPECT_NE(dynamic_cast<database::DatabaseWorkerIdStore*>(&a->worker_ids->store()), nullptr);
  // SQLite (one machine): the same, with the in-process bus; other processes poll the epoch.
  ExpectKinds(Choose({}, db::Dialect::kSqlite), "memory", "sqlite", "memory", "sqlite");
  // Empty values count as unset; local and database name the database.
  ExpectKinds(Choose({{"REDIS_URL", ""}, {"CACHE_DEFAULT_STORE", ""}}), "postgres", "postgres",
              "memory", "postgres");
  ExpectKinds(Choose({{"CACHE_DEFAULT_STORE", "memory"}, {"LOCK_ADAPTER_DEFAULT", "local"}}),
              "postgres", "postgres", "memory", "postgres");
  ExpectKinds(Choose({{"LOCK_ADAPTER_DEFAULT", "database"}}), "postgres", "postgres", "memory",
              "postgres");
}

TEST(MakeAdaptersTest, RedisUrlCarriesTheBusAndTheCacheAndTheDatabaseKeepsTheLeases) {
  Unreached postgres(db::Dialect::kPostgres);
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", "redis://127.0.0.1:6390/1"}}, "node-1",
                        postgres.Access());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(Is<redis::RedisSyncBus>(a->bus));
  EXPECT_TRUE(Is<redis::RedisCache>(a->cache));
  EXPECT_TRUE(Is<database::DatabaseLeaseLock>(a->lock));
  EXPECT_EQ(a->worker_ids->store().backend(), "postgres");
  auto& cache = dynamic_cast<redis::RedisCache&>(*a->cache);
  EXPECT_EQ(cache.client().url().port, 6390);
  EXPECT_EQ(cache.client().url().db, 1);
}

TEST(MakeAdaptersTest, EachAdapterCanBeChosenAlone) {
  const std::string url = "redis://127.0.0.1:6390";
  ExpectKinds(Choose({{"REDIS_URL", url}, {"CACHE_DEFAULT_STORE", "memory"}}), "redis", "postgres",
              "memory", "postgres");
  ExpectKinds(Choose({{"REDIS_URL", url}, {"LOCK_ADAPTER_DEFAULT", "redis"}}), "redis", "redis",
              "redis", "redis");
  ExpectKinds(Choose({{"PUBSUB_ADAPTER_REDIS_URL", url}}), "redis", "postgres", "memory",
              "postgres");
  ExpectKinds(Choose({{"CACHE_REDIS_URL", url}}), "postgres", "postgres", "redis", "postgres");
  ExpectKinds(Choose({{"CACHE_REDIS_URL", url}, {"CACHE_DEFAULT_STORE", "redis"}}), "postgres",
              "postgres", "redis", "postgres");
  // Locks and worker ids go to Redis together, and only when asked.
  ExpectKinds(Choose({{"LOCK_ADAPTER_REDIS_URL", url}}), "postgres", "postgres", "memory",
              "postgres");
  ExpectKinds(Choose({{"LOCK_ADAPTER_REDIS_URL", url}, {"LOCK_ADAPTER_DEFAULT", "redis"}}),
              "postgres", "redis", "memory", "redis");
}

TEST(MakeAdaptersTest, SpecificUrlsWinOverRedisUrl) {
  Unreached postgres(db::Dialect::kPostgres);
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", "redis://h0:6000"},
                                       {"CACHE_REDIS_URL", "redis://h1:6001/1"},
                                       {"LOCK_ADAPTER_DEFAULT", "redis"},
                                       {"LOCK_ADAPTER_REDIS_URL", "redis://h2:6002/2"},
                                       {"PUBSUB_ADAPTER_REDIS_URL", "redis://h3:6003/3"}},
                        "node-1", postgres.Access());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(dynamic_cast<redis::RedisCache&>(*a->cache).client().url().host, "h1");
  EXPECT_EQ(dynamic_cast<redis::RedisLeaseLock&>(*a->lock).client().url().host, "h2");
  EXPECT_EQ(dynamic_cast<redis::RedisWorkerIdStore&>(a->worker_ids->store()).client().url().host,
            "h2");
  EXPECT_EQ(dynamic_cast<redis::RedisSyncBus&>(*a->bus).publisher().url().host, "h3");
}

TEST(MakeAdaptersTest, RefusesABadUrlNamingTheVariable) {
  for (const char* var :
       {"REDIS_URL", "PUBSUB_ADAPTER_REDIS_URL", "CACHE_REDIS_URL", "LOCK_ADAPTER_REDIS_URL"}) {
    // Even a variable that would go unused is checked.
    auto a = Choose({{var, "http://nope"}, {"CACHE_DEFAULT_STORE", "memory"}});
    ASSERT_FALSE(a.ok()) << var;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message().rfind(std::string(var) + ":", 0), 0u) << a.status().message();
  }
}

TEST(MakeAdaptersTest, RefusesUnknownChoicesRedisWithoutAUrlAndABadLeaseTtl) {
  auto store = Choose({{"CACHE_DEFAULT_STORE", "memcached"}});
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("CACHE_DEFAULT_STORE"), std::string::npos);
  auto lock = Choose({{"LOCK_ADAPTER_DEFAULT", "memory"}, {"REDIS_URL", "redis://h"}});
  EXPECT_EQ(lock.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(lock.status().message().find("LOCK_ADAPTER_DEFAULT"), std::string::npos);
  auto no_url = Choose({{"CACHE_DEFAULT_STORE", "redis"}});
  EXPECT_EQ(no_url.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_url.status().message().find("CACHE_REDIS_URL"), std::string::npos);
  auto no_lock_url = Choose({{"LOCK_ADAPTER_DEFAULT", "redis"}, {"CACHE_REDIS_URL", "redis://h"}});
  EXPECT_EQ(no_lock_url.status().code(), StatusCode::kInvalidArgument);
  for (const char* ttl : {"abc", "999", "10s", "600001"}) {
    auto bad = Choose({{"WORKER_ID_TTL", ttl}});
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << ttl;
    EXPECT_NE(bad.status().message().find("WORKER_ID_TTL"), std::string::npos);
  }
  EXPECT_TRUE(Choose({{"WORKER_ID_TTL", "2000"}}).ok());
}

TEST(MakeAdaptersTest, RedisAdaptersWorkAgainstTheConfiguredServer) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  Unreached postgres(db::Dialect::kPostgres);
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", TestRedis::Shared().url()},
                                       {"CACHE_REDIS_URL", TestRedis::Shared().url("/4")},
                                       {"LOCK_ADAPTER_DEFAULT", "redis"}},
                        "node-x", postgres.Access());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::string key = testing::UniqueName("adapters");
  ASSERT_TRUE(a->cache->Set(key, "in db 4", 10s).ok());
  auto db4 = testing::ClientFor(TestRedis::Shared(), "/4");
  EXPECT_EQ(db4->Call({"GET", "slipway:cache:" + key})->str, "in db 4");
  auto db0 = testing::ClientFor(TestRedis::Shared());
  EXPECT_TRUE(db0->Call({"GET", "slipway:cache:" + key})->is_nil());

  ASSERT_TRUE(a->worker_ids->Start().ok());
  int id = a->worker_ids->id();
  ASSERT_GE(id, 0);
  auto owner = db0->Call({"GET", "slipway:worker:" + std::to_string(id)});
  EXPECT_EQ(owner->str, a->worker_ids->owner());
  EXPECT_EQ(owner->str.rfind("node-x/", 0), 0u) << owner->ToString();

  a->bus->Start();
  ASSERT_TRUE(testing::Eventually([&] { return a->bus->status().connected; }));
  boost::json::object status = DescribeAdapters(*a);
  EXPECT_EQ(status["bus"].as_object()["backend"], "redis");
  EXPECT_EQ(status["bus"].as_object()["connected"], true);
  EXPECT_EQ(status["cache"].as_object()["connected"], true);
  const boost::json::object& ids = status["workerIds"].as_object();
  EXPECT_EQ(ids.at("backend"), "redis");
  EXPECT_EQ(ids.at("id"), id);
  EXPECT_EQ(ids.at("connected"), true);
  // Redis can forget: a fresh lease waits a TTL (10 s) before ids are issued under it.
  EXPECT_EQ(ids.at("lost"), true);
  EXPECT_GT(ids.at("usableInMs").as_int64(), 5000);
  a->bus->Stop();
  a->worker_ids->Stop();
  EXPECT_TRUE(db0->Call({"GET", "slipway:worker:" + std::to_string(id)})->is_nil());
}

// Two nodes on one database, no Redis: what keeps them one cluster.
class DatabaseAdaptersTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Create()); }
  DatabaseAccess Access() { return {&db_.pool(), db_.factory(), db_.postgres()}; }
  testing::ClusterDatabase db_{GetParam()};
};

TEST_P(DatabaseAdaptersTest, TwoNodesShareLocksWorkerIdsAndSignals) {
  auto a = MakeAdapters(MapEnvironment{}, "node-a", Access());
  auto b = MakeAdapters(MapEnvironment{}, "node-b", Access());
  ASSERT_TRUE(a.ok() && b.ok());
  std::string name = testing::UniqueName("lock");
  auto held = a->lock->TryAcquire(name, 10s);
  ASSERT_TRUE(held.ok() && held->has_value()) << held.status().ToString();
  EXPECT_FALSE(b->lock->TryAcquire(name, 10s)->has_value());
  EXPECT_TRUE(*a->lock->Release(name, **held));

  ASSERT_TRUE(a->worker_ids->Start().ok());
  ASSERT_TRUE(b->worker_ids->Start().ok());
  auto ida = a->worker_ids->IdForIssuing();
  auto idb = b->worker_ids->IdForIssuing();
  ASSERT_TRUE(ida.ok()) << ida.status().ToString();
  ASSERT_TRUE(idb.ok()) << idb.status().ToString();
  EXPECT_NE(*ida, *idb);
  EXPECT_EQ(db_.Int("SELECT count(*) FROM slipway_worker_ids WHERE node_id IN ('node-a', "
                    "'node-b') AND expires_ms > " +
                    db::SqlNowMillis(GetParam())),
            2);

  std::atomic<int> got{0};
  b->bus->Subscribe("sync", [&](const boost::json::value&) { ++got; });
  b->bus->Start();
  ASSERT_TRUE(testing::Eventually([&] { return b->bus->status().connected; }));
  ASSERT_TRUE(a->bus->Publish("sync", boost::json::value(1)).ok());
  EXPECT_TRUE(testing::Eventually([&] { return got == 1; }));
  boost::json::object status = DescribeAdapters(*a);
  EXPECT_EQ(status["workerIds"].as_object()["backend"].as_string(), db::DialectName(GetParam()));
  EXPECT_EQ(status["workerIds"].as_object()["lost"], false);
  EXPECT_EQ(status["lock"].as_object()["backend"].as_string(), db::DialectName(GetParam()));
  b->bus->Stop();
}

INSTANTIATE_TEST_SUITE_P(Dialects, DatabaseAdaptersTest,
                         ::testing::ValuesIn(slipway::testing::kAllDialects),
                         slipway::testing::DialectTestName);

}  // namespace
}  // namespace slipway::cluster
