// The Orchestrator of drivers.h for one host: the nodes are processes of the release's binary
// (`slipway serve`), each with the spec's environment and its own NODE_ID, APP_PORT and
// WORKER_MODE, started detached (they outlive the tool, killed or not) and found again through
// their pid files:
//
//   <state>/run/<node>.pid     "<pid> <start time>", written by the node itself first thing
//                              (`serve --pid-file`); a reused pid is never taken for the node
//   <state>/logs/<node>.log    the node's output, appended
//   <state>/logs/tool.log      the output of the release's own commands (version, backup,
//                              install, restore) that procedures run
//   <state>/release            the release in use (absent: the spec's); an upgrade replaces it
//
// A node is ready when its health check answers 200 (or, for a node whose WORKER_MODE takes no
// requests, answers that it takes none); Start waits for that, up to [verify] timeout_s, and
// fails at once, with the end of the node's log, when the process ends first or reports a state
// it does not leave by itself (a failed upgrade: "error"; a binary older than the database:
// "outdated"). Stop sends SIGTERM (the node finishes what runs) and SIGKILL after [cluster]
// stop_timeout_s; with a load balancer, which drains a node before it is stopped, nodes get
// SHUTDOWN_DELAY=0 unless the spec's [env] says otherwise.
#pragma once

#include <functional>

#include "ops/drivers.h"
#include "ops/process.h"

namespace slipway::ops {

class LocalOrchestrator : public Orchestrator {
 public:
  // `say` receives the lines of the release's commands as they run (a backup's progress).
  LocalOrchestrator(const ClusterSpec& spec, std::function<void(const std::string&)> say = {});

  Result<std::string> Release() override;
  Status UseRelease(const std::string& release) override;
  Result<std::string> VersionOf(const std::string& release) override;
  Status Start(const std::string& node) override;
  Status Stop(const std::string& node) override;
  Result<std::vector<NodeStatus>> Nodes() override;
  Result<boost::json::object> Backup(const std::string& release, const std::string& path) override;
  Status Restore(const std::string& release, const std::string& path) override;

  std::filesystem::path PidFile(const std::string& node) const;
  std::filesystem::path LogFile(const std::string& node) const;
  // The environment of a node (or, with null, of the release's commands).
  Result<Environment> EnvironmentFor(const ClusterNode* node) const;
  // Runs `slipway ARGS` of `release` to completion (its lines said as they come when `echo`);
  // FailedPrecondition with its output's end when it fails.
  Result<ToolRun> RunRelease(const std::string& release, const std::vector<std::string>& args,
                             bool echo = true);

 private:
  Result<NodeStatus> Probe(const ClusterNode& node) const;
  std::string LogTail(const std::string& node) const;

  const ClusterSpec& spec_;
  std::function<void(const std::string&)> say_;
};

// The binary of a release: the file itself, or <dir>/bin/slipway. NotFound when it is not an
// executable file.
Result<std::filesystem::path> ReleaseBinary(const std::filesystem::path& release);

}  // namespace slipway::ops
