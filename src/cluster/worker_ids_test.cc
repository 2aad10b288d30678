#include "cluster/worker_ids.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>
#include <unordered_set>

#include "cluster/cluster_test_util.h"
#include "cluster/memory/memory_worker_ids.h"
#include "cluster/redis/redis_worker_ids.h"
#include "core/ids.h"
#include "test_redis.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using slipway::testing::TestRedis;
using testing::Backend;
using testing::Eventually;

redis::RedisWorkerIdOptions FastLeases() {
  redis::RedisWorkerIdOptions o;
  o.ttl = 600ms;
  o.renew_interval = 150ms;
  o.retry_interval = 50ms;
  return o;
}

// Redis tests here use their own server: they count and steal worker keys.
class WorkerIdTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() { server_ = new TestRedis; }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      ASSERT_TRUE(server_->Start());
      ASSERT_TRUE(testing::ClientFor(*server_)->Call({"FLUSHALL"}).ok());
    }
  }
  std::unique_ptr<WorkerIdAllocator> Make(const std::string& node) {
    if (GetParam() == Backend::kMemory) return std::make_unique<memory::MemoryWorkerIdAllocator>();
    return std::make_unique<redis::RedisWorkerIdAllocator>(testing::ClientFor(*server_), node,
                                                           FastLeases());
  }

  static TestRedis* server_;
};
TestRedis* WorkerIdTest::server_ = nullptr;

TEST_P(WorkerIdTest, AllocatorsGetDistinctIdsThatGenerateDistinctSnowflakes) {
  std::vector<std::unique_ptr<WorkerIdAllocator>> nodes;
  std::set<int> ids;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Make("node-" + std::to_string(i)));
    EXPECT_EQ(nodes.back()->id(), -1);
    auto id = nodes.back()->Lease();
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_GE(*id, 0);
    EXPECT_LE(*id, WorkerIdAllocator::kMaxWorkerId);
    EXPECT_EQ(nodes.back()->id(), *id);
    EXPECT_EQ(*nodes.back()->Lease(), *id) << "Lease() again returns the held id";
    ids.insert(*id);
  }
  EXPECT_EQ(ids.size(), 3u);

  // The point of it: Snowflake ids from the three "nodes" never collide.
  std::unordered_set<int64_t> seen;
  for (const auto& node : nodes) {
    auto gen = core::SnowflakeGenerator::Create(node->id());
    ASSERT_TRUE(gen.ok());
    for (int i = 0; i < 5000; ++i) {
      auto next = (*gen)->Next();
      ASSERT_TRUE(next.ok());
      ASSERT_TRUE(seen.insert(*next).second) << "duplicate id " << *next;
    }
  }
}

TEST_P(WorkerIdTest, ReleaseFreesTheId) {
  auto a = Make("node-a");
  auto id = a->Lease();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  a->Release();
  EXPECT_EQ(a->id(), -1);
  EXPECT_FALSE(a->lost());
  a->Release();  // idempotent
  EXPECT_EQ(a->Renew().code(), StatusCode::kFailedPrecondition);
  if (GetParam() == Backend::kRedis) {
    auto exists =
        testing::ClientFor(*server_)->Call({"EXISTS", redis::RedisWorkerIdAllocator::Key(*id)});
    ASSERT_TRUE(exists.ok());
    EXPECT_EQ(exists->integer, 0);
  } else {
    // Lowest free id first: the released id is the one handed out next.
    auto b = Make("node-b");
    EXPECT_EQ(*b->Lease(), *id);
  }
}

TEST_P(WorkerIdTest, DestroyingAnAllocatorReleasesItsId) {
  int id;
  {
    auto a = Make("node-a");
    id = *a->Lease();
  }
  if (GetParam() == Backend::kRedis) {
    auto exists =
        testing::ClientFor(*server_)->Call({"EXISTS", redis::RedisWorkerIdAllocator::Key(id)});
    EXPECT_EQ(exists->integer, 0);
  } else {
    auto b = Make("node-b");
    EXPECT_EQ(*b->Lease(), id);
  }
}

TEST_P(WorkerIdTest, RenewalKeepsTheLease) {
  std::vector<std::unique_ptr<WorkerIdAllocator>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Make("node-" + std::to_string(i)));
    ASSERT_TRUE(nodes.back()->Lease().ok());
  }
  // Well past the 600 ms TTL (in-process leases do not expire: nothing to wait for).
  if (GetParam() == Backend::kRedis) std::this_thread::sleep_for(1500ms);
  for (const auto& node : nodes) {
    EXPECT_FALSE(node->lost());
    EXPECT_TRUE(node->Renew().ok());
    if (GetParam() == Backend::kRedis) {
      auto* r = static_cast<redis::RedisWorkerIdAllocator*>(node.get());
      auto value = testing::ClientFor(*server_)->Call({"GET", r->Key(r->id())});
      ASSERT_TRUE(value.ok());
      EXPECT_EQ(value->str, r->owner()) << "the key expired or changed hands";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkerIdTest,
                         ::testing::Values(Backend::kMemory, Backend::kRedis),
                         testing::BackendName);

TEST(MemoryWorkerIdTest, RunsOutAfter1024) {
  std::vector<std::unique_ptr<memory::MemoryWorkerIdAllocator>> all;
  std::set<int> ids;
  // Other tests may hold a few ids of the process-wide set; fill what is left.
  while (true) {
    auto a = std::make_unique<memory::MemoryWorkerIdAllocator>();
    auto id = a->Lease();
    if (!id.ok()) {
      EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted);
      break;
    }
    ASSERT_TRUE(ids.insert(*id).second) << "id " << *id << " handed out twice";
    all.push_back(std::move(a));
    ASSERT_LE(all.size(), 1024u);
  }
  EXPECT_GE(all.size(), 1000u);
  all.pop_back();  // frees one
  EXPECT_TRUE(memory::MemoryWorkerIdAllocator().Lease().ok());
}

class RedisWorkerIdTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  std::unique_ptr<redis::RedisWorkerIdAllocator> Make(const std::string& node) {
    return std::make_unique<redis::RedisWorkerIdAllocator>(testing::ClientFor(server_), node,
                                                           FastLeases());
  }
  TestRedis server_;
};

TEST_F(RedisWorkerIdTest, StoresTheNodeUnderTheKeyWithTheTtl) {
  auto a = Make("node-a");
  auto id = a->Lease();
  ASSERT_TRUE(id.ok());
  auto raw = testing::ClientFor(server_);
  auto value = raw->Call({"GET", "slipway:worker:" + std::to_string(*id)});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->str.rfind("node-a/", 0), 0u) << value->str;
  EXPECT_EQ(value->str, a->owner());
  auto ttl = raw->Call({"PTTL", "slipway:worker:" + std::to_string(*id)});
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 600);
}

TEST_F(RedisWorkerIdTest, AStolenIdIsReportedLost) {
  auto a = Make("node-a");
  auto id = a->Lease();
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(a->lost());
  auto raw = testing::ClientFor(server_);
  std::string key = "slipway:worker:" + std::to_string(*id);
  ASSERT_TRUE(raw->Call({"SET", key, "node-thief/x", "PX", "60000"}).ok());
  ASSERT_TRUE(Eventually([&] { return a->lost(); }, 2000ms));
  EXPECT_EQ(a->Renew().code(), StatusCode::kAborted);
  EXPECT_EQ(a->id(), *id) << "the id stays visible so the application can tell which it lost";
  // Releasing a lost lease leaves the thief's key alone.
  a->Release();
  auto value = raw->Call({"GET", key});
  EXPECT_EQ(value->str, "node-thief/x");
  // Lease() after a loss takes another id.
  auto b = Make("node-a");
  auto again = b->Lease();
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *id);
}

TEST_F(RedisWorkerIdTest, LeaseAfterLossTakesANewId) {
  auto a = Make("node-a");
  auto id = a->Lease();
  ASSERT_TRUE(id.ok());
  auto raw = testing::ClientFor(server_);
  ASSERT_TRUE(
      raw->Call({"SET", "slipway:worker:" + std::to_string(*id), "other", "PX", "60000"}).ok());
  ASSERT_TRUE(Eventually([&] { return a->lost(); }, 2000ms));
  auto fresh = a->Lease();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_NE(*fresh, *id);
  EXPECT_FALSE(a->lost());
  std::this_thread::sleep_for(800ms);  // past a TTL: the new lease is being renewed
  EXPECT_FALSE(a->lost());
}

TEST_F(RedisWorkerIdTest, AnOutageLongerThanTheTtlLosesTheLease) {
  auto a = Make("node-a");
  ASSERT_TRUE(a->Lease().ok());
  ASSERT_TRUE(server_.Stop());
  // Not lost at once: a short outage is survivable...
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(a->lost());
  EXPECT_EQ(a->Renew().code(), StatusCode::kUnavailable);
  // ...but once no renewal succeeded for a whole TTL, another node may hold the id.
  EXPECT_TRUE(Eventually([&] { return a->lost(); }, 2000ms));
  // Redis comes back empty (no persistence): renewal must not quietly take the id again.
  ASSERT_TRUE(server_.Start());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(a->lost());
  EXPECT_EQ(a->Renew().code(), StatusCode::kAborted);
}

TEST_F(RedisWorkerIdTest, ARedisRestartWithoutPersistenceLosesTheLease) {
  auto a = Make("node-a");
  ASSERT_TRUE(a->Lease().ok());
  ASSERT_TRUE(server_.Restart());
  // The key is gone: anyone could lease the id now, so it is not ours any more.
  EXPECT_TRUE(Eventually([&] { return a->lost(); }, 2000ms));
}

TEST_F(RedisWorkerIdTest, ExhaustedWhenEveryIdIsTaken) {
  auto raw = testing::ClientFor(server_);
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i <= WorkerIdAllocator::kMaxWorkerId; ++i) {
    mset.push_back("slipway:worker:" + std::to_string(i));
    mset.push_back("someone");
  }
  ASSERT_TRUE(raw->Call(mset).ok());
  auto a = Make("node-a");
  EXPECT_EQ(a->Lease().status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(raw->Call({"DEL", "slipway:worker:517"}).ok());
  auto id = a->Lease();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 517);
}

TEST_F(RedisWorkerIdTest, LeaseIsUnavailableWhileRedisIsDown) {
  auto a = Make("node-a");
  ASSERT_TRUE(server_.Stop());
  EXPECT_EQ(a->Lease().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a->id(), -1);
}

}  // namespace
}  // namespace slipway::cluster
