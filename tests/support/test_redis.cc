#include "test_redis.h"

#include <unistd.h>

#include <cstdlib>

namespace slipway::testing {
namespace {

constexpr const char* kScript = SLIPWAY_SOURCE_DIR "/scripts/redis-server";

}  // namespace

TestRedis::TestRedis() : owner_pid_(::getpid()) {}

TestRedis::~TestRedis() {
  // A forked child that exits normally must not stop its parent's server.
  if (running_ && ::getpid() == owner_pid_) (void)Stop();
}

TestRedis& TestRedis::Shared() {
  // Destroyed at exit, which stops the server.
  static TestRedis server;
  return server;
}

::testing::AssertionResult TestRedis::Run(const std::string& command) {
  RunResult r = RunCommand({"/bin/bash", kScript, command, (dir_.path() / "redis").string()}, {},
                           dir_.path() / "logs");
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "scripts/redis-server " << command << " failed (exit " << r.exit_code << "):\n"
           << r.out << r.err;
  }
  if (command != "stop") {
    port_ = std::atoi(r.out.c_str());
    if (port_ <= 0) {
      return ::testing::AssertionFailure()
             << "scripts/redis-server " << command << " printed no port:\n"
             << r.out << r.err;
    }
  }
  running_ = command != "stop";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TestRedis::Start() {
  if (running_) return ::testing::AssertionSuccess();
  return Run("start");
}

::testing::AssertionResult TestRedis::Restart() { return Run("restart"); }

::testing::AssertionResult TestRedis::Stop() { return Run("stop"); }

std::string TestRedis::url(const std::string& suffix) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + suffix;
}

}  // namespace slipway::testing
