// Processes on this host, for the local cluster drivers (nodes, HAProxy, nginx, the release's own
// commands): started detached into a log file and remembered by a pid file that also holds the
// process's start time (a reused pid is never taken for the node), stopped with a signal and a
// deadline, or run to completion with their output captured. One place for fork and exec, so
// that the environment, file descriptors and sessions are right for every caller.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "slipway/status.h"

namespace slipway::ops {

using Environment = std::map<std::string, std::string>;

// The variables a child inherits from this process whatever it is told: PATH, HOME, USER,
// LANG, LC_ALL, TZ, TMPDIR (the rest comes from the caller, so that a shell's stray DB_HOST never
// reaches a node).
Environment BaseEnvironment();
// Every variable of this process (for a command that must see the configuration a node was
// started with).
Environment ThisEnvironment();

struct ProcessId {
  int pid = 0;
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22
};

// This process.
ProcessId ThisProcess();

// Whether the process runs (not a zombie) and is the one that was recorded.
bool Running(const ProcessId& id);

// Starts `argv` in a session of its own, not a child of this process (it outlives the tool that
// started it, killed or not), stdin from /dev/null, stdout and stderr appended to `log`.
Result<ProcessId> SpawnDetached(const std::vector<std::string>& argv, const Environment& env,
                                const std::filesystem::path& log);

// A pid file: "<pid> <start time>\n", written to a temporary name, fsynced and renamed.
Status WritePidFile(const std::filesystem::path& file, const ProcessId& id);
// The process a pid file names, if that process still runs.
std::optional<ProcessId> ReadPidFile(const std::filesystem::path& file);

// SIGTERM (or `signal`), then SIGKILL once `grace` has passed; returns when the process is gone.
// `killed` (optional) tells whether SIGKILL was needed.
Status StopProcess(const ProcessId& id, std::chrono::milliseconds grace, int signal = 15,
                   bool* killed = nullptr);

struct ToolRun {
  int exit_code = 0;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `argv` to completion; each line of its output also goes to `on_line` as it comes. The
// command is killed if this process dies first.
Result<ToolRun> RunTool(const std::vector<std::string>& argv, const Environment& env,
                        const std::function<void(const std::string&)>& on_line = {});

struct ToolOptions {
  // In a session of its own, whose scheduling group (the kernel's autogroup) is set to the
  // lowest weight (nice 19) and its threads to SCHED_IDLE: the command takes a core only when
  // nothing else of the host wants it. Within one group, idle threads yield to the others; across
  // groups (a node, its database, a load balancer) only the groups' weights count.
  bool background = false;
};

// As above; an error from `on_line` kills the command (SIGKILL) and is returned once it is gone.
Result<ToolRun> RunTool(const std::vector<std::string>& argv, const Environment& env,
                        const std::function<Status(const std::string&)>& on_line,
                        const ToolOptions& options);

// The last `lines` lines of a file (a node's log, for an error message), leaving out those that
// contain `skip` (when not empty), each indented by two spaces.
std::string TailOf(const std::filesystem::path& file, int lines, std::string_view skip = {});

// Writes `text` to `file` through a temporary name, fsynced, renamed, the folder fsynced.
Status WriteFileDurably(const std::filesystem::path& file, const std::string& text);

}  // namespace slipway::ops
