#include "ops/migration_manager.h"

#include <chrono>

#include "core/logging.h"
#include "db/system_tables.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kRules(db::kMigrationRulesTable);
const std::string kLogs(db::kMigrationLogsTable);

}  // namespace

ArchiveFolder PackageFolder(const fs::path& dir) {
  return ArchiveFolder(dir, ".slwmig", "migration package", "MIGRATION");
}

MigrationManager::MigrationManager(api::Services& services, TaskStore& tasks,
                                   BackupManager& backups, MigrationManagerOptions options)
    : services_(services), tasks_(tasks), backups_(backups), options_(std::move(options)) {}

Result<fs::path> MigrationManager::PackagePath(const std::string& name) const {
  return PackageFolder(packages_dir()).Path(name);
}

Result<BackupSummary> MigrationManager::Export(ExportOptions options) {
  auto snap = services_.snapshot();
  if (!snap->schema_store) return FailedPrecondition("the application is not installed");
  std::error_code ec;
  fs::create_directories(packages_dir(), ec);
  if (options.output.empty()) options.output = packages_dir() / PackageFileName();
  options.app_version = options_.app_version;
  // A connection of its own: the dump holds a snapshot transaction for its whole length.
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  return ExportPackage(*conn, *snap->schema_store, options);
}

Result<MigrationDiff> MigrationManager::Check(const ImportRequest& request) {
  ASSIGN_OR_RETURN(PackageCheck check, CheckPackage(request));
  auto snap = services_.snapshot();
  if (!snap->schema_store) return FailedPrecondition("the application is not installed");
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  MigrateOptions options;
  options.app_version = options_.app_version;
  options.plugin_version = options_.plugin_version;
  ASSIGN_OR_RETURN(MigrateResult r, Migrate(*conn, *snap->schema_store, request, check, options));
  return std::move(r.diff);
}

Result<MigrationRules> MigrationManager::SavedRules(int64_t id) {
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  ASSIGN_OR_RETURN(auto rs, conn->Query("SELECT rules FROM " + kRules + " WHERE id = $1", {id}));
  if (rs->row_count() == 0) {
    return NotFound("migration rules " + std::to_string(id) + " not found", "RULES_NOT_FOUND");
  }
  boost::system::error_code ec;
  json::value v = json::parse(rs->Text(0, 0), ec);
  if (ec) return Internal("the stored migration rules " + std::to_string(id) + " are not JSON");
  return ParseRules(v);
}

Result<json::value> MigrationManager::RunExport(TaskContext& ctx) {
  const auto started = Clock::now();
  const json::object& params = ctx.task().params;
  const std::string name = Param(params, "name");
  RETURN_IF_ERROR(PackageFolder(packages_dir()).CheckName(name));
  ExportOptions options;
  options.output = packages_dir() / name;
  options.title = Param(params, "title");
  options.password = Param(params, "password");
  if (const json::value* rules = params.if_contains("rules")) {
    ASSIGN_OR_RETURN(options.rules, ParseRules(*rules));
  }
  Reporter report(ctx, "rows", true);
  options.progress = [&](int64_t done, int64_t total, std::string_view what) {
    return report(done, total, what);
  };
  ASSIGN_OR_RETURN(BackupSummary made, Export(std::move(options)));
  core::log::Info("migration package written", {{"name", name},
                                                {"rows", made.rows},
                                                {"bytes", made.archive_bytes},
                                                {"ms", MillisSince(started)}});
  return json::value(
      json::object{{"name", name},
                   {"rows", made.rows},
                   {"size", made.archive_bytes},
                   {"rules", made.manifest.contains("rules") ? made.manifest.at("rules")
                                                             : json::value(json::object{})},
                   {"ms", MillisSince(started)}});
}

Status MigrationManager::WriteLog(int64_t* id, const TaskRecord& task, const std::string& package,
                                  const std::string& status, const std::string& backup,
                                  const json::value& diff, const std::string& error,
                                  int64_t started_ms, int64_t ms) {
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  const db::Value diff_v = diff.is_null() ? db::Null() : db::Value(json::serialize(diff));
  const bool finished = status != "running";
  if (*id == 0) {
    ASSIGN_OR_RETURN(
        auto rs,
        conn->Query(
            "INSERT INTO " + kLogs +
                " (task_id, package, status, created_by, node_id, backup, diff, error, "
                "started_ms, finished_ms, ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11) RETURNING id",
            {task.id, package, status, task.created_by ? db::Value(*task.created_by) : db::Null(),
             services_.config().node_id, backup, diff_v, error, started_ms,
             finished ? db::Value(started_ms + ms) : db::Null(),
             finished ? db::Value(ms) : db::Null()}));
    *id = rs->Int(0, 0);
    return Status::Ok();
  }
  return conn->Exec("UPDATE " + kLogs +
                        " SET status = $2, backup = $3, diff = $4, error = $5, finished_ms = $6, "
                        "ms = $7 WHERE id = $1",
                    {*id, status, backup, diff_v, error, started_ms + ms, ms});
}

Result<json::value> MigrationManager::RunImport(TaskContext& ctx) {
  const auto started = Clock::now();
  const int64_t started_ms = NowMillis();
  const json::object& params = ctx.task().params;
  ImportRequest request;
  std::string name = Param(params, "name");
  if (params.contains("path")) {
    request.path = Param(params, "path");
    name = request.path.filename().string();
  } else {
    ASSIGN_OR_RETURN(request.path, PackagePath(name));
  }
  request.password = Param(params, "password");
  request.allow_data_loss = Flag(params, "allowDataLoss", false);
  auto snap = services_.snapshot();
  if (!snap->schema_store) return FailedPrecondition("the application is not installed");
  int64_t log_id = 0;
  std::string backup;
  json::value diff_json = nullptr;
  auto failed = [&](const Status& s) -> Status {
    Status logged = WriteLog(&log_id, ctx.task(), name, "failed", backup, diff_json, s.message(),
                             started_ms, MillisSince(started));
    if (!logged.ok()) {
      core::log::Error("the failed import could not be logged", {{"error", logged.message()}});
    }
    core::log::Warn("migration import failed",
                    {{"package", name}, {"error", s.message()}, {"ms", MillisSince(started)}});
    return s;
  };

  // 1. The package read and checked, and the diff as a dry run: a refusal changes nothing.
  Reporter bytes(ctx, "rows", true);
  RETURN_IF_ERROR(bytes(0, 0, "checking " + name, true));
  auto check = CheckPackage(request);
  if (!check.ok()) return failed(check.status());
  MigrateOptions options;
  options.app_version = options_.app_version;
  options.plugin_version = options_.plugin_version;
  options.restore_plugins = options_.restore_plugins;
  Result<MigrateResult> dry = Internal("not run");
  {
    // Plugins, versions, structure and losses: every refusal. The rows are compared once, by
    // the change itself.
    ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
    options.rows = false;
    dry = Migrate(*conn, *snap->schema_store, request, *check, options);
  }
  if (!dry.ok()) return failed(dry.status());
  diff_json = dry->diff.ToJson();
  if (!dry->diff.ok()) {
    return failed(
        FailedPrecondition(dry->diff.refusals.front().message, dry->diff.refusals.front().code));
  }

  // 2. The way back: a backup of what is here now.
  if (!Flag(params, "skipBackup", false)) {
    backup = BackupFileName();
    BackupOptions b;
    b.output = backups_.backups_dir() / backup;
    b.note = "taken before importing " + name;
    Reporter rows(ctx, "rows", true);
    b.progress = [&](int64_t done, int64_t total, std::string_view) {
      return rows(done, total, "backup " + backup);
    };
    auto made = backups_.Backup(std::move(b));
    if (!made.ok()) {
      backup.clear();
      return failed(made.status().WithContext("the backup before the import"));
    }
  }
  RETURN_IF_ERROR(
      WriteLog(&log_id, ctx.task(), name, "running", backup, diff_json, "", started_ms, 0));

  // 3. The import: one cluster-wide change under the schema lock.
  const db::Dialect dialect = services_.pool().dialect();
  Reporter rows(ctx, "rows", dialect == db::Dialect::kPostgres);
  RETURN_IF_ERROR(rows(0, 0, "importing " + name, true));
  if (dialect == db::Dialect::kSqlite) {
    // The row cannot be written while the import holds SQLite's write lock.
    RETURN_IF_ERROR(ctx.Hold(std::chrono::hours(1)));
  }
  options.apply = true;
  options.progress = [&](int64_t done, int64_t total, std::string_view what) {
    return rows(done, total, what);
  };
  MigrateResult applied;
  const auto lock_started = Clock::now();
  Status changed = services_.ApplyChange(
      // Behind another procedure holding the schema lock (an upgrade, a restore, a plugin
      // change) an import does not queue for long: it is refused, naming the lock.
      {"migrations:execute " + name, /*schema_lock=*/true, std::chrono::seconds(5)},
      [&](db::Connection& conn, const api::Snapshot& now) -> Result<api::SnapshotUpdate> {
        if (!now.schema_store) return FailedPrecondition("the application is not installed");
        ASSIGN_OR_RETURN(applied, Migrate(conn, *now.schema_store, request, *check, options));
        api::SnapshotUpdate update = api::SnapshotUpdate::Reload();
        update.removals = applied.removals;
        return update;
      });
  const int64_t change_ms = MillisSince(lock_started);
  const bool committed = changed.ok() || changed.tag() == "CLUSTER_UNCONFIRMED";
  if (!committed) {
    return failed(changed.WithContext("the import of " + name +
                                      " failed and changed nothing; production is as it was"));
  }
  diff_json = applied.diff.ToJson();
  RETURN_IF_ERROR(WriteLog(&log_id, ctx.task(), name, "succeeded", backup, diff_json,
                           changed.ok() ? "" : changed.message(), started_ms,
                           MillisSince(started)));
  RETURN_IF_ERROR(rows(0, 0, "imported " + name, true));
  core::log::Info("migration imported", {{"package", name},
                                         {"backup", backup},
                                         {"changeMs", change_ms},
                                         {"ms", MillisSince(started)}});
  json::object result{{"name", name},
                      {"logId", log_id},
                      {"backup", backup.empty() ? json::value(nullptr) : json::value(backup)},
                      {"diff", diff_json},
                      {"changeMs", change_ms},
                      {"ms", MillisSince(started)}};
  if (!changed.ok()) result["warning"] = changed.message();
  return json::value(std::move(result));
}

void MigrationManager::CloseStaleLogs() {
  auto conn = services_.pool().Acquire();
  if (!conn.ok()) return;
  auto rs = (*conn)->Query("SELECT id, task_id FROM " + kLogs + " WHERE status = 'running'");
  if (!rs.ok()) return;
  for (int r = 0; r < (*rs)->row_count(); ++r) {
    auto task = tasks_.Get(std::string((*rs)->Text(r, 1)));
    if (!task.ok() || !task->finished()) continue;
    // The node running the import died between its change and its log entry (or with the
    // change): the task's outcome is the import's.
    const bool succeeded = task->state == TaskState::kSucceeded;
    Status closed = (*conn)->Exec(
        "UPDATE " + kLogs +
            " SET status = $2, error = $3, finished_ms = $4 WHERE id = $1 AND status = 'running'",
        {(*rs)->Int(r, 0), succeeded ? "succeeded" : "failed",
         succeeded ? std::string() : task->error, NowMillis()});
    if (!closed.ok()) return;
  }
}

void MigrationManager::Register(TaskRunner& runner) {
  wake_ = [&runner] { runner.Wake(); };
  runner.Register(std::string(kExportTask), [this](TaskContext& ctx) { return RunExport(ctx); });
  runner.Register(std::string(kImportTask), [this](TaskContext& ctx) { return RunImport(ctx); });
  runner.AddSweep([this] { CloseStaleLogs(); });
}

}  // namespace slipway::ops
