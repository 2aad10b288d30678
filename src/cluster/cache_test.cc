#include "cluster/cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "cluster/memory/memory_cache.h"
#include "cluster/redis/redis_cache.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using slipway::testing::TestRedis;
using testing::Backend;
using testing::Eventually;
using testing::UniqueName;

class CacheTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      ASSERT_TRUE(TestRedis::Shared().Start());
      cache_ = std::make_unique<redis::RedisCache>(testing::ClientFor(TestRedis::Shared()));
    } else {
      cache_ =
          std::make_unique<memory::MemoryCache>(memory::MemoryCache::kDefaultMaxEntries, clock_);
    }
    key_ = UniqueName("key");
  }
  std::optional<std::string> Get(const std::string& key) {
    auto r = cache_->Get(key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  // Lets `d` pass: the memory cache's clock moves; Redis keeps its own time, so the test waits
  // (polling) until the key Redis was told to drop is gone.
  void Pass(std::chrono::milliseconds d, const std::string& gone_key) {
    if (GetParam() == Backend::kMemory) {
      clock_.Advance(d);
    } else {
      EXPECT_TRUE(Eventually([&] { return Get(gone_key) == std::nullopt; }));
    }
  }

  core::ManualClock clock_;
  std::unique_ptr<Cache> cache_;
  std::string key_;
};

TEST_P(CacheTest, SetsGetsOverwritesAndDeletes) {
  EXPECT_EQ(Get(key_), std::nullopt);
  ASSERT_TRUE(cache_->Set(key_, "one", 10s).ok());
  EXPECT_EQ(Get(key_), "one");
  ASSERT_TRUE(cache_->Set(key_, "two", 10s).ok());
  EXPECT_EQ(Get(key_), "two");
  std::string binary("\0\r\n\xfe", 4);
  ASSERT_TRUE(cache_->Set(key_ + "-bin", binary, 10s).ok());
  EXPECT_EQ(Get(key_ + "-bin"), binary);
  ASSERT_TRUE(cache_->Del(key_).ok());
  EXPECT_EQ(Get(key_), std::nullopt);
  EXPECT_TRUE(cache_->Del(key_).ok()) << "deleting a missing key is fine";
  EXPECT_EQ(Get(key_ + "-bin"), binary);
}

TEST_P(CacheTest, RespectsTheTtl) {
  ASSERT_TRUE(cache_->Set(key_, "short", 150ms).ok());
  ASSERT_TRUE(cache_->Set(key_ + "-forever", "kept", 0ms).ok());
  ASSERT_TRUE(cache_->Set(key_ + "-long", "kept", 10s).ok());
  EXPECT_EQ(Get(key_), "short");
  if (GetParam() == Backend::kMemory) {
    clock_.Advance(149ms);
    EXPECT_EQ(Get(key_), "short");
  }
  Pass(250ms, key_);
  EXPECT_EQ(Get(key_), std::nullopt);
  EXPECT_EQ(Get(key_ + "-forever"), "kept");
  EXPECT_EQ(Get(key_ + "-long"), "kept");
  // Set again replaces the TTL too.
  ASSERT_TRUE(cache_->Set(key_ + "-long", "short now", 100ms).ok());
  Pass(200ms, key_ + "-long");
  EXPECT_EQ(Get(key_ + "-long"), std::nullopt);
  EXPECT_EQ(cache_->Set(key_, "x", -1ms).code(), StatusCode::kInvalidArgument);
}

TEST_P(CacheTest, WrapLoadsOnceThenServesTheCachedValue) {
  int loads = 0;
  auto load = [&]() -> Result<std::string> {
    ++loads;
    return "loaded-" + std::to_string(loads);
  };
  auto first = cache_->Wrap(key_, 10s, load);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "loaded-1");
  auto second = cache_->Wrap(key_, 10s, load);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "loaded-1");
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(Get(key_), "loaded-1");
  // After expiry it loads again.
  ASSERT_TRUE(cache_->Wrap(key_ + "-ttl", 100ms, load).ok());
  Pass(200ms, key_ + "-ttl");
  auto reloaded = cache_->Wrap(key_ + "-ttl", 100ms, load);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(*reloaded, "loaded-3");
}

TEST_P(CacheTest, WrapPassesALoadFailureOnAndCachesNothing) {
  auto failing = []() -> Result<std::string> { return NotFound("no such thing"); };
  auto r = cache_->Wrap(key_, 10s, failing);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get(key_), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Backends, CacheTest, ::testing::Values(Backend::kMemory, Backend::kRedis),
                         testing::BackendName);

TEST(MemoryCacheTest, StaysWithinItsBoundDroppingTheOldest) {
  memory::MemoryCache cache(100);
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(cache.Set("k" + std::to_string(i), "v", 0ms).ok());
  EXPECT_LE(cache.size(), 100u);
  EXPECT_GE(cache.size(), 90u);
  EXPECT_EQ(*cache.Get("k249"), "v");
  EXPECT_EQ(*cache.Get("k0"), std::nullopt);
  EXPECT_EQ(*cache.Get("k149"), std::nullopt);  // older than the newest 100
}

TEST(MemoryCacheTest, DropsExpiredEntriesBeforeLiveOnes) {
  core::ManualClock clock;
  memory::MemoryCache cache(100, clock);
  // The 50 oldest entries are live; 50 younger ones expire.
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(cache.Set("live" + std::to_string(i), "v", 0ms).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(cache.Set("temp" + std::to_string(i), "v", 50ms).ok());
  clock.Advance(100ms);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(cache.Set("new" + std::to_string(i), "v", 0ms).ok());
  EXPECT_EQ(*cache.Get("live0"), "v") << "an old live entry went while expired ones could";
  EXPECT_EQ(*cache.Get("live49"), "v");
  EXPECT_EQ(*cache.Get("new39"), "v");
  EXPECT_EQ(cache.size(), 90u);
}

TEST(MemoryCacheTest, ResettingAKeyMakesItYoung) {
  memory::MemoryCache cache(10);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(cache.Set("k" + std::to_string(i), "v", 0ms).ok());
  ASSERT_TRUE(cache.Set("k0", "again", 0ms).ok());
  ASSERT_TRUE(cache.Set("k10", "v", 0ms).ok());  // full: the oldest (k1) goes, not k0
  EXPECT_EQ(*cache.Get("k0"), "again");
  EXPECT_EQ(*cache.Get("k1"), std::nullopt);
}

TEST(RedisCacheTest, UsesThePrefixedKeyAndTtl) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  redis::RedisCache cache(testing::ClientFor(TestRedis::Shared()));
  auto raw = testing::ClientFor(TestRedis::Shared());
  std::string key = UniqueName("key");
  ASSERT_TRUE(cache.Set(key, "v", 5s).ok());
  auto value = raw->Call({"GET", "slipway:cache:" + key});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->str, "v");
  auto ttl = raw->Call({"PTTL", "slipway:cache:" + key});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 4000);
  // Another node's Set is this node's Get: the cache is shared.
  ASSERT_TRUE(raw->Call({"SET", "slipway:cache:" + key, "from elsewhere"}).ok());
  EXPECT_EQ(**cache.Get(key), "from elsewhere");
}

TEST(RedisCacheTest, WrapFallsBackToLoadingWhileRedisIsDown) {
  TestRedis server;
  ASSERT_TRUE(server.Start());
  redis::RedisCache cache(testing::ClientFor(server));
  ASSERT_TRUE(server.Stop());
  EXPECT_EQ(cache.Get("k").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(cache.Set("k", "v", 1s).code(), StatusCode::kUnavailable);
  EXPECT_EQ(cache.Del("k").code(), StatusCode::kUnavailable);
  auto r = cache.Wrap("k", 1s, []() -> Result<std::string> { return std::string("fresh"); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "fresh");
}

}  // namespace
}  // namespace slipway::cluster
