// Helpers for the cluster adapters' tests (test-only, header-only).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "cluster/redis/redis_client.h"
#include "test_redis.h"

namespace slipway::cluster::testing {

using namespace std::chrono_literals;

enum class Backend { kMemory, kRedis };

inline void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kMemory ? "memory" : "redis");
}

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kMemory ? "Memory" : "Redis";
}

// Polls `done` every 5 ms until it holds or `timeout` passes; returns its last value.
inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A client for `server` (fast backoff, so that tests of recovery do not wait for it).
inline std::unique_ptr<redis::RedisClient> ClientFor(const slipway::testing::TestRedis& server,
                                                     const std::string& suffix = "",
                                                     const std::string& name = "test") {
  auto url = redis::ParseRedisUrl(server.url(suffix));
  EXPECT_TRUE(url.ok()) << url.status().ToString();
  redis::RedisClientOptions options;
  options.name = name;
  options.backoff_initial = 20ms;
  options.backoff_max = 200ms;
  return std::make_unique<redis::RedisClient>(*url, options);
}

// A key or channel name no other test (or earlier run) uses.
inline std::string UniqueName(const std::string& base) {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return base + "-" + (info ? std::string(info->name()) : "x") + "-" + std::to_string(++counter) +
         "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace slipway::cluster::testing
