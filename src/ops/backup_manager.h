// BackupManager (issue 13): backups and restores as durable tasks (task_store.h), the API with
// NocoBase's names, the schedule and retention. Any node answers any call for any task: the
// state is in the task table and the backups folder (shared storage), never in a process.
//
//   backups:list            the archives in <STORAGE_PATH>/backups, newest first, and the
//                           backups being made (inProgress)
//   backups:create          queues a backup; answers at once {name, inProgress: true, taskId}
//   backups:taskStatus      {<name>: {inProgress, message?, progress}} for `names`
//   backups:download        the archive named by filterByTk (a name inside the folder only)
//   backups:destroy         removes it (refused while a restore reads it)
//   backups:restore         {name, password?, disableMissingPlugins?}: queues a restore
//   backups:upload          multipart `file` (+ password): stored in the folder, then restored
//   backups:restoreStatus   the restore task named by `task`: {inProgress, message?, progress}
//   backupSettings:get|update  {scheduled, cron, keep, enableFilesBackup, password}
//
// A restore (task kind "backups.restore") runs: CheckBackup (nothing touched yet; on PostgreSQL
// the collections' rows load into a staging schema while the archive is checked, and the
// cluster serves its data meanwhile: restore.h); a safety
// backup of the current data (kept in the folder, named in the result); the cluster's gate to
// `restoring` (every node answers 503 with NocoBase's maintenance body, status calls excepted);
// the restore as one cluster-wide change under the schema lock, which also opens the gate again
// (every live node loads the restored schema, plugins and roles before the call returns). A
// failure ends with the gate open and the previous data serving (the change rolled back); a
// crash of the node doing it too: the transaction dies with it, and a sweep on every node
// (TaskRunner::AddSweep) opens a gate whose restore task is no longer running.
//
// On SQLite the restore holds the database's write lock throughout: its task row cannot be
// written meanwhile, so the lease is taken long enough first (TaskContext::Hold) and progress
// is reported to the row before and after, on a terminal throughout.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/action.h"
#include "api/services.h"
#include "ops/backup.h"
#include "ops/ops_util.h"
#include "ops/process.h"
#include "ops/restore.h"
#include "ops/task_runner.h"
#include "ops/task_store.h"

namespace slipway::ops {

inline constexpr std::string_view kBackupTask = "backups.create";
inline constexpr std::string_view kRestoreTask = "backups.restore";

// The id under which a command (the CLI) holds a task it runs itself: the node's id, "/cli/" and
// the process id, so that nodes on the same host can tell when the command is gone.
std::string TaskCommandId(const std::string& node_id);

struct BackupSettings {
  bool scheduled = false;
  std::string cron = "0 0 * * *";
  int keep = 100;
  bool files = true;
  std::string password;
  int64_t next_run_ms = 0;
};

// The backups folder: archives named like backup_20261201_101500_1234.slwbak.
ArchiveFolder BackupFolder(const std::filesystem::path& dir);

struct BackupManagerOptions {
  std::filesystem::path storage_path;  // backups in storage/backups, files in storage/uploads
  std::string app_version;
  PluginVersionFn plugin_version;
  std::function<Status(db::Connection&, const boost::json::array& plugins,
                       const std::set<std::string>& disabled)>
      restore_plugins;
};

class BackupManager {
 public:
  BackupManager(api::Services& services, TaskStore& tasks, BackupManagerOptions options);

  std::filesystem::path backups_dir() const { return options_.storage_path / "backups"; }
  std::filesystem::path uploads_dir() const { return options_.storage_path / "uploads"; }

  // Every backup goes through here (a task's, a restore's safety backup, the CLI's): the output
  // defaults to a new name in the backups folder, the uploads and app version are this node's,
  // and the dump reads one snapshot on a connection of its own.
  Result<BackupSummary> Backup(BackupOptions options);

  // A serving node's backup tasks run in a process of their own: `command` (this binary's
  // `backup` with the node's storage flags) is given `create --output F --json
  // --report-progress` and the task's options, in a scheduling group of the lowest weight
  // (ToolOptions::background), with the node's `env`. Inside the node, even at SCHED_IDLE, the
  // dump's threads share the node's group, which the kernel weighs against the database's and
  // every other group's as a whole: a paced read's p99 went to 7 times its figure without a
  // backup; in a process of its own, about twice (README, Performance). Its progress lines
  // become the task's; cancelling the task kills it. Without a command (the CLI, a restore's
  // safety backup), backups run in this process.
  void RunBackupsApart(std::vector<std::string> command, Environment env) {
    apart_command_ = std::move(command);
    apart_env_ = std::move(env);
  }

  // The task handlers and the sweep (a restore's gate left by a dead node; the schedule).
  void Register(TaskRunner& runner);
  void RegisterActions(api::ActionRegistry& registry);

  // The handlers. Params of a backup: {name, files?, note?, password?}; of a restore: {name}
  // (a file of the backups folder) or {path} (any file, from the CLI), with password? and
  // disableMissingPlugins?.
  Result<boost::json::value> RunBackup(TaskContext& ctx);
  Result<boost::json::value> RunRestore(TaskContext& ctx);

  Result<BackupSettings> ReadSettings();
  // Keeps the newest `keep` archives of the folder, never one a running restore reads.
  Status ApplyRetention(int keep);
  // The schedule's turn: when it is due and this node moved it on, a backup is queued. Returns
  // whether it queued one.
  Result<bool> ScheduleTick(int64_t now_ms);

 private:
  // The archive `name` in the backups folder: a plain file name ending in .slwbak that exists.
  Result<std::filesystem::path> BackupPath(const std::string& name) const;
  void RecoverGate();
  Result<BackupSummary> BackupApart(BackupOptions options);
  // PostgreSQL's check before the gate: the backup's schema read and its plugins checked, the
  // collections' rows staged (whose readings check every entry), and the manifest judged.
  // Progress in bytes of the archive.
  Result<BackupCheck> StageChecked(
      const RestoreRequest& request,
      const std::function<Status(int64_t, int64_t, std::string_view)>& progress,
      RestoredFiles& files, std::optional<StagedRestore>& staged);

  api::Services& services_;
  TaskStore& tasks_;
  BackupManagerOptions options_;
  std::function<void()> wake_;  // this node's runner, told when a task is queued here
  std::vector<std::string> apart_command_;
  Environment apart_env_;
};

}  // namespace slipway::ops
