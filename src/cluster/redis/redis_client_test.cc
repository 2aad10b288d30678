#include "cluster/redis/redis_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "cluster/cluster_test_util.h"
#include "test_redis.h"

namespace slipway::cluster::redis {
namespace {

using namespace std::chrono_literals;
using cluster::testing::ClientFor;
using cluster::testing::UniqueName;
using slipway::testing::TestRedis;
using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

TEST(RedisClientTest, RoundTripsEveryReplyType) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  auto client = ClientFor(TestRedis::Shared());
  std::string key = UniqueName("k");
  std::string binary("a\0b\r\n\xff", 6);

  auto set = client->Command({"SET", key, binary});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->is_status("OK")) << set->ToString();
  auto got = client->Command({"GET", key});
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->is_string()) << got->ToString();
  EXPECT_EQ(got->str, binary);

  auto missing = client->Command({"GET", key + "-missing"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_nil());

  auto n = client->Command({"INCRBY", key + "-n", "41"});
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->is_integer());
  EXPECT_EQ(n->integer, 41);

  auto arr = client->Command({"MGET", key, key + "-missing", key + "-n"});
  ASSERT_TRUE(arr.ok());
  ASSERT_TRUE(arr->is_array());
  ASSERT_EQ(arr->elements.size(), 3u);
  EXPECT_EQ(arr->elements[0].str, binary);
  EXPECT_TRUE(arr->elements[1].is_nil());
  EXPECT_EQ(arr->elements[2].str, "41");

  // A server error is a reply for Command() and a Status for Call().
  auto wrong = client->Command({"LPUSH", key, "x"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(wrong->is_error());
  EXPECT_EQ(wrong->str.rfind("WRONGTYPE", 0), 0u) << wrong->str;
  auto call = client->Call({"LPUSH", key, "x"});
  EXPECT_EQ(call.status().code(), StatusCode::kInternal);
  EXPECT_NE(call.status().message().find("LPUSH"), std::string::npos);

  EXPECT_TRUE(client->connected());
  EXPECT_EQ(client->reconnects(), 0);
}

TEST(RedisClientTest, IsSafeToShareBetweenThreads) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  auto client = ClientFor(TestRedis::Shared());
  std::string key = UniqueName("counter");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto r = client->Call({"INCR", key});
        if (!r.ok() || !r->is_integer()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  auto total = client->Call({"GET", key});
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(total->str, "800");
}

TEST(RedisClientTest, LogsInWithPasswordOrAclUserAndSelectsTheDatabase) {
  TestRedis server;
  ASSERT_TRUE(server.Start());
  {
    auto admin = ClientFor(server);
    ASSERT_TRUE(
        admin->Call({"ACL", "SETUSER", "alice", "on", ">wonder land", "~*", "&*", "+@all"}).ok());
    ASSERT_TRUE(admin->Call({"CONFIG", "SET", "requirepass", "s3cret"}).ok());
  }
  // No credentials: the server says NOAUTH, which Call() reports as Unauthenticated.
  auto anonymous = ClientFor(server);
  EXPECT_EQ(anonymous->Call({"GET", "x"}).status().code(), StatusCode::kUnauthenticated);

  RedisClient wrong(*ParseRedisUrl("redis://:nope@127.0.0.1:" + std::to_string(server.port())));
  auto refused = wrong.Command({"PING"});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated) << refused.status().ToString();
  EXPECT_EQ(refused.status().message().find("nope"), std::string::npos);

  RedisClient by_password(
      *ParseRedisUrl("redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/3"));
  ASSERT_TRUE(by_password.Call({"SET", "where", "db3"}).ok());
  RedisClient by_user(
      *ParseRedisUrl("redis://alice:wonder%20land@127.0.0.1:" + std::to_string(server.port())));
  auto whoami = by_user.Call({"ACL", "WHOAMI"});
  ASSERT_TRUE(whoami.ok()) << whoami.status().ToString();
  EXPECT_EQ(whoami->str, "alice");
  // alice is in database 0, where the key set in database 3 is not.
  auto in_db0 = by_user.Call({"GET", "where"});
  ASSERT_TRUE(in_db0.ok());
  EXPECT_TRUE(in_db0->is_nil());
  ASSERT_TRUE(by_user.Call({"SELECT", "3"}).ok());
  auto in_db3 = by_user.Call({"GET", "where"});
  ASSERT_TRUE(in_db3.ok());
  EXPECT_EQ(in_db3->str, "db3");
}

TEST(RedisClientTest, ReconnectsTransparentlyAfterARestart) {
  TestRedis server;
  ASSERT_TRUE(server.Start());
  auto client = ClientFor(server);
  ASSERT_TRUE(client->Call({"SET", "a", "1"}).ok());
  ASSERT_TRUE(server.Restart());
  // The idle connection was closed by the old server: the client notices before sending.
  auto r = client->Call({"PING"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->is_status("PONG"));
  EXPECT_EQ(client->reconnects(), 1);
  EXPECT_TRUE(client->connected());
  EXPECT_NE(client->last_error().find("closed"), std::string::npos) << client->last_error();
}

TEST(RedisClientTest, FailsFastWhileDownAndBacksOff) {
  TestRedis server;
  ASSERT_TRUE(server.Start());
  auto url = *ParseRedisUrl(server.url());
  RedisClientOptions options;
  options.backoff_initial = 700ms;
  RedisClient client(url, options);
  ASSERT_TRUE(client.Call({"PING"}).ok());
  ASSERT_TRUE(server.Stop());

  auto start = Clock::now();
  auto first = client.Call({"PING"});
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(first.status().message().find("redis at 127.0.0.1:" + std::to_string(server.port()) +
                                          " is unreachable"),
            std::string::npos)
      << first.status().message();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(client.Call({"PING"}).status().code(), StatusCode::kUnavailable);
  }
  EXPECT_LT(MsSince(start), 200) << "51 failed calls should cost almost nothing";
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.last_error().empty());

  // Back within the backoff window: no attempt is made before it ends.
  ASSERT_TRUE(server.Start());
  if (MsSince(start) < 600) {
    auto early = client.Call({"PING"});
    EXPECT_EQ(early.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(early.status().message().find("next attempt in"), std::string::npos);
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::max<int64_t>(0, 750 - MsSince(start))));
  auto back = client.Call({"PING"});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.reconnects(), 1);
}

TEST(RedisConnectionTest, WritingToAResetConnectionIsAnErrorNotSigpipe) {
  ASSERT_TRUE(TestRedis::Shared().Start());
  auto url = *ParseRedisUrl(TestRedis::Shared().url());
  auto conn = RedisConnection::Open(url, 2000ms);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto id = (*conn)->Command({"CLIENT", "ID"});
  ASSERT_TRUE(id.ok() && id->is_integer());
  auto killer = ClientFor(TestRedis::Shared());
  ASSERT_TRUE(killer->Call({"CLIENT", "KILL", "ID", std::to_string(id->integer)}).ok());
  // The first write after the server closed is answered with a reset; a later one would raise
  // SIGPIPE, which would end this test binary.
  Status sent;
  for (int i = 0; i < 50 && sent.ok(); ++i) {
    sent = (*conn)->Send({"PING"});
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(sent.code(), StatusCode::kUnavailable) << sent.ToString();
  EXPECT_TRUE((*conn)->broken());
  EXPECT_EQ((*conn)->Command({"PING"}).status().code(), StatusCode::kUnavailable);
}

TEST(RedisClientTest, NeverReachableIsUnavailable) {
  int port = slipway::testing::FreePort();
  RedisClient client(*ParseRedisUrl("redis://127.0.0.1:" + std::to_string(port)));
  auto start = Clock::now();
  auto r = client.Command({"PING"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_LT(MsSince(start), 500);
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.reconnects(), 0);
}

}  // namespace
}  // namespace slipway::cluster::redis
