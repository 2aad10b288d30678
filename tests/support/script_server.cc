#include "script_server.h"

#include <unistd.h>

#include <cstdlib>

namespace slipway::testing {

ScriptServer::ScriptServer(std::string script, std::string name,
                           std::map<std::string, std::string> env)
    : script_(std::move(script)),
      name_(std::move(name)),
      env_(std::move(env)),
      owner_pid_(::getpid()) {}

ScriptServer::~ScriptServer() {
  // A forked child that exits normally must not stop its parent's server.
  if (running_ && ::getpid() == owner_pid_) (void)Stop();
}

::testing::AssertionResult ScriptServer::Run(const std::string& command) {
  const std::string path = std::string(SLIPWAY_SOURCE_DIR "/scripts/") + script_;
  RunResult r = RunCommand({"/bin/bash", path, command, (dir_.path() / name_).string()}, env_,
                           dir_.path() / "logs");
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "scripts/" << script_ << " " << command << " failed (exit " << r.exit_code << "):\n"
           << r.out << r.err;
  }
  if (command != "stop") {
    port_ = std::atoi(r.out.c_str());
    if (port_ <= 0) {
      return ::testing::AssertionFailure()
             << "scripts/" << script_ << " " << command << " printed no port:\n"
             << r.out << r.err;
    }
  }
  running_ = command != "stop";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ScriptServer::Start() {
  if (running_) return ::testing::AssertionSuccess();
  return Run("start");
}

::testing::AssertionResult ScriptServer::Restart() { return Run("restart"); }

::testing::AssertionResult ScriptServer::Stop() { return Run("stop"); }

}  // namespace slipway::testing
