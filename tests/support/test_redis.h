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

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace slipway::testing {

class TestRedis {
 public:
  TestRedis();
  ~TestRedis();  // stops the server (only in the process that created the object)
  TestRedis(const TestRedis&) = delete;
  TestRedis& operator=(const TestRedis&) = delete;

  // The per-process server. Call Start() (cheap when running) before using it.
  static TestRedis& Shared();

  // Starts the server unless it runs.
  ::testing::AssertionResult Start();
  // SIGTERM, wait for exit, then start again on the same port.
  ::testing::AssertionResult Restart();
  ::testing::AssertionResult Stop();

  bool running() const { return running_; }
  int port() const { return port_; }
  // "redis://127.0.0.1:<port>" plus `suffix` (e.g. "/2").
  std::string url(const std::string& suffix = "") const;
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  ::testing::AssertionResult Run(const std::string& command);

  TempDir dir_;
  pid_t owner_pid_;
  bool running_ = false;
  int port_ = 0;
};

}  // namespace slipway::testing
