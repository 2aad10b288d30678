// A server for tests that one of the scripts/ (pg-server, redis-server) runs in a temporary
// directory: `script start|restart|stop DIR`, which prints the port it listens on.
//
// The object owns the server process (started by Start(), stopped by Stop() or the destructor)
// and its directory. Restart() keeps the port. Failures come back as gtest AssertionResults
// carrying the script's output: use ASSERT_TRUE(server.Start()). Nothing here skips a test when
// the server's package is missing.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

#include "test_support.h"

namespace slipway::testing {

class ScriptServer {
 public:
  // `script`: a file under scripts/; `name`: the data directory's name and what errors call it.
  ScriptServer(std::string script, std::string name, std::map<std::string, std::string> env = {});
  ~ScriptServer();  // stops the server (only in the process that created the object)
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  // Starts the server unless it runs.
  ::testing::AssertionResult Start();
  // Stops it and starts it again on the same port.
  ::testing::AssertionResult Restart();
  ::testing::AssertionResult Stop();

  bool running() const { return running_; }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  ::testing::AssertionResult Run(const std::string& command);

  const std::string script_, name_;
  const std::map<std::string, std::string> env_;
  TempDir dir_;
  pid_t owner_pid_;
  bool running_ = false;
  int port_ = 0;
};

}  // namespace slipway::testing
