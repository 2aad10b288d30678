// MigrationManager (issue 14): environment migration as durable tasks and NocoBase's API, on a
// running cluster. Packages live in <STORAGE_PATH>/migrations (shared storage, as backups do);
// any node answers any call.
//
//   migrations:create        {title?, ruleId? | rules?}: queues an export; answers at once
//                            {name, inProgress: true, taskId}
//   migrations:list          the packages, newest first, and those being made (inProgress)
//   migrations:get           one package's manifest: title, versions, dialect, rules, row counts
//   migrations:download      the package named by filterByTk
//   migrations:destroy       removes it
//   migrations:upload        multipart `file`: stored in the folder; answers {name}
//   migrations:check         {name, password?, allowDataLoss?}: the diff against this database,
//                            changing nothing (200 with the diff; its `ok` says whether it applies)
//   migrations:execute       {name, password?, skipBackup?, allowDataLoss?}: queues an import;
//                            answers {taskId} (asyncTasks:get follows it)
//   migrationRules:list|get|create|update|destroy   saved rules ({name, rules})
//   migrationLogs:list|get   every import: who, when, the package, the diff, the result
//
// An import (task kind "migrations.execute") runs: the package read and checked; the diff
// computed as a dry run (a refusal ends it here, logged); an automatic backup unless skipped
// (named in the log and the result: the way back from an import that succeeded but was wrong);
// then the diff applied as one cluster-wide change under the schema lock (api/services.h: every
// live node loads the new schema, plugins and roles before the call returns; a removal is
// two-phase, so requests on other nodes see the old schema or the new one, never a mix). A
// failure anywhere before the commit rolls the whole change back: production is as it was.
// One import at a time (409 MIGRATION_IN_PROGRESS), and none while a restore runs.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "api/action.h"
#include "api/services.h"
#include "ops/backup_manager.h"
#include "ops/migration.h"
#include "ops/ops_util.h"
#include "ops/task_runner.h"
#include "ops/task_store.h"

namespace slipway::ops {

inline constexpr std::string_view kExportTask = "migrations.create";
inline constexpr std::string_view kImportTask = "migrations.execute";

// The packages folder: archives named like migration_20261201_101500_1234.slwmig.
ArchiveFolder PackageFolder(const std::filesystem::path& dir);

// The same as a backup manager's: the storage (packages in storage/migrations), the app version,
// and the plugins' part, wired by the application.
using MigrationManagerOptions = BackupManagerOptions;

class MigrationManager {
 public:
  MigrationManager(api::Services& services, TaskStore& tasks, BackupManager& backups,
                   MigrationManagerOptions options);

  std::filesystem::path packages_dir() const { return options_.storage_path / "migrations"; }

  void Register(TaskRunner& runner);
  void RegisterActions(api::ActionRegistry& registry);

  // Every export goes through here (a task's, the CLI's): the output defaults to a new name in
  // the packages folder; the dump reads one snapshot on a connection of its own.
  Result<BackupSummary> Export(ExportOptions options);
  // The dry run: the diff of a package against the database as it is now. Changes nothing.
  Result<MigrationDiff> Check(const ImportRequest& request);

  // The handlers. Export params: {name, title?, rules?}; import params: {name} (a package of
  // the folder) or {path} (any file, from the CLI), with password?, skipBackup?,
  // allowDataLoss?.
  Result<boost::json::value> RunExport(TaskContext& ctx);
  Result<boost::json::value> RunImport(TaskContext& ctx);

  // Saved rules by id (migrationRules).
  Result<MigrationRules> SavedRules(int64_t id);

 private:
  Result<std::filesystem::path> PackagePath(const std::string& name) const;
  // A log entry left "running" by an import whose task has ended (its node died) takes the
  // task's outcome. Every node's runner sweeps.
  void CloseStaleLogs();
  Status WriteLog(int64_t* id, const TaskRecord& task, const std::string& package,
                  const std::string& status, const std::string& backup,
                  const boost::json::value& diff, const std::string& error, int64_t started_ms,
                  int64_t ms);

  api::Services& services_;
  TaskStore& tasks_;
  BackupManager& backups_;
  MigrationManagerOptions options_;
  std::function<void()> wake_;
};

}  // namespace slipway::ops
