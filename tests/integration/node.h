// A `slipway serve` process for integration tests: its own storage directory and free port.
#pragma once

#include <signal.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "test_support.h"

namespace slipway::testing {

// The binary under test: SLIPWAY_TEST_BINARY when set (to run a suite against another build,
// e.g. an earlier commit's), else the one built with the tests.
inline std::string DefaultBinary() {
  const char* other = std::getenv("SLIPWAY_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : SLIPWAY_BIN;
}

struct NodeOptions {
  std::string binary = DefaultBinary();
  std::filesystem::path storage;  // required
  std::map<std::string, std::string> env;
  std::vector<std::string> extra_args;
  int port = 0;  // 0: a free one
};

class Node {
 public:
  explicit Node(NodeOptions options, const std::string& name = "node")
      : options_(std::move(options)), port_(options_.port != 0 ? options_.port : FreePort()) {
    // Stopping is immediate unless a test asks for the leaving delay (config SHUTDOWN_DELAY).
    options_.env.emplace("SHUTDOWN_DELAY", "0");
    std::vector<std::string> argv = {options_.binary, "serve",
                                     "--host",        "127.0.0.1",
                                     "--port",        std::to_string(port_),
                                     "--storage",     options_.storage.string()};
    for (const auto& a : options_.extra_args) argv.push_back(a);
    process_ = std::make_unique<Process>(argv, options_.env, options_.storage / "logs", name);
  }
  int port() const { return port_; }
  Process& process() { return *process_; }
  bool WaitHealthy(std::chrono::milliseconds t = std::chrono::seconds(10)) {
    return WaitForHealth(port_, 200, t);
  }
  // SIGTERM and wait; returns the exit code.
  int Stop() {
    process_->Signal(SIGTERM);
    return process_->Wait(std::chrono::seconds(20));
  }
  HttpResult Get(const std::string& target) { return HttpGet(port_, target); }

 private:
  NodeOptions options_;
  int port_;
  std::unique_ptr<Process> process_;
};

}  // namespace slipway::testing
