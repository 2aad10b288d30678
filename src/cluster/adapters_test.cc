#include "cluster/adapters.h"

#include <gtest/gtest.h>

#include "cluster/cluster_test_util.h"
#include "cluster/memory/memory_cache.h"
#include "cluster/memory/memory_lock.h"
#include "cluster/memory/memory_sync_bus.h"
#include "cluster/memory/memory_worker_ids.h"
#include "cluster/redis/redis_cache.h"
#include "cluster/redis/redis_lock.h"
#include "cluster/redis/redis_sync_bus.h"
#include "cluster/redis/redis_worker_ids.h"
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

struct Kinds {
  std::string bus, lock, cache, worker_ids;
};

Kinds KindsOf(const Adapters& a) {
  return {a.bus->status().backend, std::string(a.lock->backend()), std::string(a.cache->backend()),
          std::string(a.worker_ids->backend())};
}

Result<Kinds> Choose(std::map<std::string, std::string> vars) {
  ASSIGN_OR_RETURN(Adapters a, MakeAdapters(MapEnvironment(std::move(vars)), "node-1"));
  return KindsOf(a);
}

void ExpectKinds(const Result<Kinds>& k, const std::string& bus, const std::string& lock,
                 const std::string& cache, const std::string& worker_ids) {
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->bus, bus);
  EXPECT_EQ(k->lock, lock);
  EXPECT_EQ(k->cache, cache);
  EXPECT_EQ(k->worker_ids, worker_ids);
}

TEST(MakeAdaptersTest, WithoutRedisEverythingIsInProcess) {
  auto a = MakeAdapters(MapEnvironment{}, "node-1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(Is<memory::MemorySyncBus>(a->bus));
  EXPECT_TRUE(Is<memory::MemoryLeaseLock>(a->lock));
  EXPECT_TRUE(Is<memory::MemoryCache>(a->cache));
  EXPECT_TRUE(Is<memory::MemoryWorkerIdAllocator>(a->worker_ids));
  // Empty values count as unset.
  ExpectKinds(Choose({{"REDIS_URL", ""}, {"CACHE_DEFAULT_STORE", ""}}), "memory", "memory",
              "memory", "memory");
  ExpectKinds(Choose({{"CACHE_DEFAULT_STORE", "memory"}, {"LOCK_ADAPTER_DEFAULT", "local"}}),
              "memory", "memory", "memory", "memory");
}

TEST(MakeAdaptersTest, RedisUrlIsTheDefaultForEverything) {
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", "redis://127.0.0.1:6390/1"}}, "node-1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(Is<redis::RedisSyncBus>(a->bus));
  EXPECT_TRUE(Is<redis::RedisLeaseLock>(a->lock));
  EXPECT_TRUE(Is<redis::RedisCache>(a->cache));
  EXPECT_TRUE(Is<redis::RedisWorkerIdAllocator>(a->worker_ids));
  auto& cache = dynamic_cast<redis::RedisCache&>(*a->cache);
  EXPECT_EQ(cache.client().url().port, 6390);
  EXPECT_EQ(cache.client().url().db, 1);
}

TEST(MakeAdaptersTest, EachAdapterCanBeChosenAlone) {
  const std::string url = "redis://127.0.0.1:6390";
  ExpectKinds(Choose({{"REDIS_URL", url}, {"CACHE_DEFAULT_STORE", "memory"}}), "redis", "redis",
              "memory", "redis");
  ExpectKinds(Choose({{"REDIS_URL", url}, {"LOCK_ADAPTER_DEFAULT", "local"}}), "redis", "memory",
              "redis", "redis");
  ExpectKinds(Choose({{"PUBSUB_ADAPTER_REDIS_URL", url}}), "redis", "memory", "memory", "memory");
  ExpectKinds(Choose({{"CACHE_REDIS_URL", url}}), "memory", "memory", "redis", "memory");
  ExpectKinds(Choose({{"CACHE_REDIS_URL", url}, {"CACHE_DEFAULT_STORE", "redis"}}), "memory",
              "memory", "redis", "memory");
  // The lock URL also serves the worker ids.
  ExpectKinds(Choose({{"LOCK_ADAPTER_REDIS_URL", url}}), "memory", "redis", "memory", "redis");
  ExpectKinds(Choose({{"LOCK_ADAPTER_REDIS_URL", url}, {"LOCK_ADAPTER_DEFAULT", "local"}}),
              "memory", "memory", "memory", "redis");
}

TEST(MakeAdaptersTest, SpecificUrlsWinOverRedisUrl) {
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", "redis://h0:6000"},
                                       {"CACHE_REDIS_URL", "redis://h1:6001/1"},
                                       {"LOCK_ADAPTER_REDIS_URL", "redis://h2:6002/2"},
                                       {"PUBSUB_ADAPTER_REDIS_URL", "redis://h3:6003/3"}},
                        "node-1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(dynamic_cast<redis::RedisCache&>(*a->cache).client().url().host, "h1");
  EXPECT_EQ(dynamic_cast<redis::RedisLeaseLock&>(*a->lock).client().url().host, "h2");
  EXPECT_EQ(dynamic_cast<redis::RedisWorkerIdAllocator&>(*a->worker_ids).client().url().host, "h2");
  EXPECT_EQ(dynamic_cast<redis::RedisSyncBus&>(*a->bus).publisher().url().host, "h3");
}

TEST(MakeAdaptersTest, RefusesABadUrlNamingTheVariable) {
  for (const char* var :
       {"REDIS_URL", "PUBSUB_ADAPTER_REDIS_URL", "CACHE_REDIS_URL", "LOCK_ADAPTER_REDIS_URL"}) {
    // Even a variable that would go unused is checked.
    auto a = MakeAdapters(MapEnvironment{{var, "http://nope"}, {"CACHE_DEFAULT_STORE", "memory"}},
                          "node-1");
    ASSERT_FALSE(a.ok()) << var;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message().rfind(std::string(var) + ":", 0), 0u) << a.status().message();
  }
}

TEST(MakeAdaptersTest, RefusesUnknownChoicesAndRedisWithoutAUrl) {
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
}

TEST(MakeAdaptersTest, RedisAdaptersWorkAgainstTheConfiguredServer) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  auto a = MakeAdapters(MapEnvironment{{"REDIS_URL", TestRedis::Shared().url()},
                                       {"CACHE_REDIS_URL", TestRedis::Shared().url("/4")}},
                        "node-x");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::string key = testing::UniqueName("adapters");
  ASSERT_TRUE(a->cache->Set(key, "in db 4", 10s).ok());
  auto db4 = testing::ClientFor(TestRedis::Shared(), "/4");
  EXPECT_EQ(db4->Call({"GET", "slipway:cache:" + key})->str, "in db 4");
  auto db0 = testing::ClientFor(TestRedis::Shared());
  EXPECT_TRUE(db0->Call({"GET", "slipway:cache:" + key})->is_nil());

  auto id = a->worker_ids->Lease();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto owner = db0->Call({"GET", "slipway:worker:" + std::to_string(*id)});
  EXPECT_EQ(owner->str.rfind("node-x/", 0), 0u) << owner->ToString();

  a->bus->Start();
  ASSERT_TRUE(testing::Eventually([&] { return a->bus->status().connected; }));
  boost::json::object status = DescribeAdapters(*a);
  EXPECT_EQ(status["bus"].as_object()["backend"], "redis");
  EXPECT_EQ(status["bus"].as_object()["connected"], true);
  EXPECT_EQ(status["cache"].as_object()["connected"], true);
  EXPECT_EQ(status["workerIds"].as_object()["id"], *id);
  EXPECT_EQ(status["workerIds"].as_object()["lost"], false);
  a->bus->Stop();
  a->worker_ids->Release();
  EXPECT_TRUE(db0->Call({"GET", "slipway:worker:" + std::to_string(*id)})->is_nil());
}

TEST(MakeAdaptersTest, InProcessAdaptersOfTwoNodesCooperate) {
  // Two applications in one process: the default hub and lock table are shared.
  auto a = MakeAdapters(MapEnvironment{}, "node-a");
  auto b = MakeAdapters(MapEnvironment{}, "node-b");
  ASSERT_TRUE(a.ok() && b.ok());
  std::string name = testing::UniqueName("lock");
  auto held = a->lock->TryAcquire(name, 10s);
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_FALSE(b->lock->TryAcquire(name, 10s)->has_value());
  EXPECT_TRUE(*a->lock->Release(name, **held));
  EXPECT_NE(*a->worker_ids->Lease(), *b->worker_ids->Lease());

  std::atomic<int> got{0};
  b->bus->Subscribe("sync", [&](const boost::json::value&) { ++got; });
  b->bus->Start();
  ASSERT_TRUE(a->bus->Publish("sync", boost::json::value(1)).ok());
  EXPECT_TRUE(testing::Eventually([&] { return got == 1; }));
  boost::json::object status = DescribeAdapters(*a);
  EXPECT_EQ(status["cache"].as_object()["backend"], "memory");
}

}  // namespace
}  // namespace slipway::cluster
