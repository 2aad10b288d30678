#include "cluster/redis/redis_url.h"

#include <gtest/gtest.h>

namespace slipway::cluster::redis {
namespace {

TEST(RedisUrlTest, ParsesHostPortAndDefaults) {
  auto u = ParseRedisUrl("redis://cache.internal:6380");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->password, "");
  EXPECT_EQ(u->Address(), "cache.internal:6380");

  auto d = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
}

TEST(RedisUrlTest, ParsesPasswordUserAndDatabase) {
  auto p = ParseRedisUrl("redis://:s3cret@127.0.0.1:7000/2");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->user, "");
  EXPECT_EQ(p->password, "s3cret");
  EXPECT_EQ(p->db, 2);

  auto acl = ParseRedisUrl("redis://alice:p%40ss%3Aw0rd@10.0.0.5:6379/15");
  ASSERT_TRUE(acl.ok()) << acl.status().ToString();
  EXPECT_EQ(acl->user, "alice");
  EXPECT_EQ(acl->password, "p@ss:w0rd");
  EXPECT_EQ(acl->host, "10.0.0.5");
  EXPECT_EQ(acl->db, 15);

  auto bare = ParseRedisUrl("redis://onlypassword@h:1/");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->user, "");
  EXPECT_EQ(bare->password, "onlypassword");
  EXPECT_EQ(bare->db, 0);

  auto v6 = ParseRedisUrl("redis://[::1]:6379");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->Address(), "[::1]:6379");
}

TEST(RedisUrlTest, RefusesWhatItCannotUse) {
  for (const char* bad :
       {"", "localhost:6379", "http://h:1", "rediss://h:6379", "redis://", "redis://h:0",
        "redis://h:99999", "redis://h:port", "redis://h:1/x", "redis://h:1/-1", "redis://h:1/1/2",
        "redis://h:1?db=2", "redis://h :1"}) {
    auto u = ParseRedisUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
  // The message never echoes the password.
  auto u = ParseRedisUrl("redis://:topsecret@h:1/nope");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message().find("topsecret"), std::string::npos);
  EXPECT_NE(ParseRedisUrl("rediss://h").status().message().find("TLS"), std::string::npos);
}

}  // namespace
}  // namespace slipway::cluster::redis
