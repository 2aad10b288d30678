// A real Redis server for tests, run by scripts/redis-server in a temporary directory.
//
// TestRedis owns the server process (started by Start(), stopped by Stop() or the destructor)
// and its directory. Restart() stops it and starts it again on the same port, so clients can
// test reconnection; the data does not survive (no persistence). Shared() is one server per test
// process for tests that neither stop nor restart it (they use their own key names).
//
// Failures come back as gtest AssertionResults carrying the script's output: use
// ASSERT_TRUE(redis.Start()). Nothing here skips a test when Redis is missing.
#pragma once

#include <string>

#include "script_server.h"

namespace slipway::testing {

class TestRedis : public ScriptServer {
 public:
  TestRedis() : ScriptServer("redis-server", "redis") {}

  // The per-process server. Call Start() (cheap when running) before using it.
  static TestRedis& Shared();

  // "redis://127.0.0.1:<port>" plus `suffix` (e.g. "/2").
  std::string url(const std::string& suffix = "") const;
};

}  // namespace slipway::testing
