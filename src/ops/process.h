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
#include <string_view>
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
  // Background work: in the idle cgroup SetUpBackgroundWork prepared, when it could (its tasks
  // get a core only when no other task of the host wants it, the kernel's cpu.idle); otherwise,
  // and as well, in a session of its own whose scheduling group (the kernel's autogroup) is at
  // the lowest weight (nice 19), its threads at SCHED_IDLE. Idle threads yield only to threads
  // of their own group: across groups (a node, its database, a load balancer) only the groups'
  // weights count, and a group at nice 19 still holds a core for a whole time slice.
  bool background = false;
};

// Where background work runs (BACKGROUND_CGROUP): "auto" (the default) a cgroup named
// slipway-background under this process's own, in the hierarchy with the cpu controller; "off"
// none; or a cgroup directory. Creates it if needed and sets its cpu.idle to 1 (on cgroup v2
// after enabling the cpu controller in its parent). Returns what it did, for the log; an
// error when `setting` names a directory that cannot be one. "auto" without a usable cgroup
// (not root, no delegated subtree, a kernel before 5.15) is not an error: background commands
// then run at the lowest weight only, and the sentence says why.
Result<std::string> SetUpBackgroundWork(std::string_view setting);

// "auto"'s cgroup from the text of /proc/self/mountinfo and /proc/self/cgroup: cgroup v1's
// hierarchy with the cpu controller if one is mounted, else cgroup v2's; none without either.
std::optional<std::filesystem::path> AutoBackgroundCgroup(std::string_view mountinfo,
                                                          std::string_view self_cgroup);

// Makes `dir` an idle cgroup: created unless it exists, cpu.idle set to 1; on cgroup v2, where
// cpu.idle exists only once the parent hands the cpu controller down, that first. A directory
// this call created and could not make idle is removed again.
Status PrepareIdleCgroup(const std::filesystem::path& dir);

// As above; an error from `on_line` kills the command (SIGKILL) and is returned once it is gone.
Result<ToolRun> RunTool(const std::vector<std::string>& argv, const Environment& env,
                        const std::function<Status(const std::string&)>& on_line,
                        const ToolOptions& options);

// A file's whole text; empty when it cannot be read (a file not written yet, a kernel file).
std::string ReadWholeFile(const std::filesystem::path& file);

// The last `lines` lines of a file (a node's log, for an error message), leaving out those that
// contain `skip` (when not empty), each indented by two spaces.
std::string TailOf(const std::filesystem::path& file, int lines, std::string_view skip = {});

// Writes `text` to `file` through a temporary name, fsynced, renamed, the folder fsynced.
Status WriteFileDurably(const std::filesystem::path& file, const std::string& text);

}  // namespace slipway::ops
