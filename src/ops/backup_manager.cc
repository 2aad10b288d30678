#include "ops/backup_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>

#include "api/cluster_actions.h"
#include "core/cron.h"
#include "core/ids.h"
#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/system_tables.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kSettings(db::kBackupSettingsTable);
// Connections a PostgreSQL restore loads rows on at once (pg_restore's -j): two keep both cores
// of a small database server busy (one table's keys built while the next one's rows load).
constexpr int kRestoreJobs = 2;
// False only for a command's task ("<host>:<port>/cli/<pid>", TaskCommandId) on this host whose
// process is gone.
bool CommandAlive(const std::string& node_id) {
  size_t cli = node_id.rfind("/cli/");
  if (cli == std::string::npos) return true;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return true;
  const std::string holder = node_id.substr(0, node_id.find(':'));
  if (holder != host) return true;
  long pid = std::strtol(node_id.c_str() + cli + 5, nullptr, 10);
  if (pid <= 0) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

}  // namespace

std::string TaskCommandId(const std::string& node_id) {
  return node_id + "/cli/" + std::to_string(::getpid());
}

BackupManager::BackupManager(api::Services& services, TaskStore& tasks,
                             BackupManagerOptions options)
    : services_(services), tasks_(tasks), options_(std::move(options)) {}

Result<fs::path> BackupManager::BackupPath(const std::string& name) const {
  return BackupFolder(backups_dir()).Path(name);
}

ArchiveFolder BackupFolder(const fs::path& dir) {
  return ArchiveFolder(dir, ".slwbak", "backup", "BACKUP");
}

Result<BackupSettings> BackupManager::ReadSettings() {
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  ASSIGN_OR_RETURN(auto rs, conn->Query("SELECT scheduled, cron, keep, files, password, "
                                        "next_run_ms FROM " +
                                        kSettings + " WHERE id = 1"));
  BackupSettings s;
  if (rs->row_count() == 0) return s;
  s.scheduled = rs->Bool(0, 0);
  s.cron = std::string(rs->Text(0, 1));
  s.keep = static_cast<int>(rs->Int(0, 2));
  s.files = rs->Bool(0, 3);
  s.password = std::string(rs->Text(0, 4));
  s.next_run_ms = rs->Int(0, 5);
  return s;
}

Result<BackupSummary> BackupManager::Backup(BackupOptions options) {
  auto snap = services_.snapshot();
  if (!snap->schema_store) return FailedPrecondition("the application is not installed");
  std::error_code ec;
  fs::create_directories(backups_dir(), ec);
  if (options.output.empty()) options.output = backups_dir() / BackupFileName();
  options.uploads_dir = uploads_dir();
  options.app_version = options_.app_version;
  // A connection of its own: the dump holds a snapshot transaction for its whole length.
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  return CreateBackup(*conn, *snap->schema_store, options);
}

Result<BackupSummary> BackupManager::BackupApart(BackupOptions options) {
  std::vector<std::string> argv = apart_command_;
  argv.insert(argv.end(),
              {"create", "--output", options.output.string(), "--json", "--report-progress"});
  if (!options.files) argv.emplace_back("--no-files");
  if (!options.note.empty()) argv.insert(argv.end(), {"--note", options.note});
  fs::path password_file;
  if (!options.password.empty()) {
    std::error_code ec;
    fs::create_directories(backups_dir(), ec);
    password_file = backups_dir() / (".password-" + core::NewUuidV4());
    int fd = ::open(password_file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return Internal("cannot create " + password_file.string());
    const std::string line = options.password + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) {
      fs::remove(password_file, ec);
      return Internal("cannot write " + password_file.string());
    }
    argv.insert(argv.end(), {"--password-file", password_file.string()});
  }
  std::optional<BackupSummary> made;
  std::string error;
  constexpr std::string_view kProgress = "progress ", kError = "slipway: error: ";
  auto ran = RunTool(
      argv, apart_env_,
      [&](const std::string& line) -> Status {
        if (line.starts_with(kProgress)) {
          long long done = 0, total = 0;
          int used = 0;
          if (std::sscanf(line.c_str() + kProgress.size(), "%lld %lld %n", &done, &total, &used) <
              2) {
            return Status::Ok();
          }
          if (!options.progress) return Status::Ok();
          return options.progress(done, total,
                                  std::string_view(line).substr(kProgress.size() + used));
        }
        if (line.starts_with(kError)) error = line.substr(kError.size());
        if (auto summary = ParseBackupSummary(line)) made = std::move(*summary);
        return Status::Ok();
      },
      ToolOptions{.background = true});
  std::error_code ec;
  if (!password_file.empty()) fs::remove(password_file, ec);
  if (ran.ok() && ran->exit_code == 0 && made) return std::move(*made);
  // Killed (cancelled) or failed: what it was writing goes (ArchiveWriter's name for it).
  fs::remove(options.output.string() + ".partial", ec);
  if (!ran.ok()) return ran.status();
  if (!error.empty()) return Internal(error);
  return Internal("the backup process ended with exit code " + std::to_string(ran->exit_code) +
                  (made ? "" : " and no summary") + ":\n" +
                  ran->output.substr(ran->output.size() > 2000 ? ran->output.size() - 2000 : 0));
}

Result<json::value> BackupManager::RunBackup(TaskContext& ctx) {
  const auto started = Clock::now();
  const json::object& params = ctx.task().params;
  const std::string name = Param(params, "name");
  RETURN_IF_ERROR(BackupFolder(backups_dir()).CheckName(name));
  ASSIGN_OR_RETURN(BackupSettings settings, ReadSettings());
  BackupOptions options;
  options.output = backups_dir() / name;
  options.files = Flag(params, "files", settings.files);
  options.password = params.contains("password") ? Param(params, "password") : settings.password;
  options.note = Param(params, "note");
  Reporter report(ctx, "rows", true);
  options.progress = [&](int64_t done, int64_t total, std::string_view what) {
    return report(done, total, what);
  };
  const bool encrypted = !options.password.empty();
  // A password of more than one line cannot go through the command's password file.
  const bool apart =
      !apart_command_.empty() && options.password.find_first_of("\r\n") == std::string::npos;
  ASSIGN_OR_RETURN(BackupSummary made,
                   apart ? BackupApart(std::move(options)) : Backup(std::move(options)));
  if (Flag(params, "scheduled", false) && settings.keep > 0) {
    Status kept = ApplyRetention(settings.keep);
    if (!kept.ok()) {
      core::log::Warn("backup retention failed", {{"error", kept.message()}});
    }
  }
  return json::value(json::object{{"name", name},
                                  {"size", made.archive_bytes},
                                  {"rows", made.rows},
                                  {"files", made.files},
                                  {"encrypted", encrypted},
                                  {"ms", MillisSince(started)}});
}

Result<json::value> BackupManager::RunRestore(TaskContext& ctx) {
  const auto started = Clock::now();
  const json::object& params = ctx.task().params;
  RestoreRequest request;
  std::string name = Param(params, "name");
  if (params.contains("path")) {
    request.path = Param(params, "path");
    name = request.path.filename().string();
  } else {
    ASSIGN_OR_RETURN(request.path, BackupPath(name));
  }
  request.password = Param(params, "password");
  request.disable_missing_plugins = Flag(params, "disableMissingPlugins", false);
  const db::Dialect dialect = services_.pool().dialect();

  // 1. Everything checked before anything served is touched. On PostgreSQL the collections'
  // rows load beside the served data meanwhile (StageRestore: its readings are the check), and
  // the cluster serves what it has.
  Reporter bytes(ctx, "bytes", true);
  RETURN_IF_ERROR(bytes(0, 0, "checking " + name, true));
  RestoredFiles files(uploads_dir(), false);
  std::optional<StagedRestore> staged;
  // What a staging leaves is dropped on every way out (a committed restore moved it all in).
  struct DropsStaging {
    api::Services& services;
    bool armed = false;
    ~DropsStaging() {
      if (!armed) return;
      Status dropped = [&]() -> Status {
        ASSIGN_OR_RETURN(db::PooledConnection conn, services.pool().Acquire());
        return DropStaging(*conn);
      }();
      if (!dropped.ok()) {
        core::log::Warn(
            "a restore's staging schema could not be dropped; the next restore drops it",
            {{"error", dropped.message()}});
      }
    }
  } drops_staging{services_, dialect == db::Dialect::kPostgres};
  Status stopped;
  auto check_all = [&]() {
    return CheckBackup(
        request, options_.app_version, options_.plugin_version, [&](uint64_t done, uint64_t total) {
          if (stopped.ok()) {
            stopped =
                bytes(static_cast<int64_t>(done), static_cast<int64_t>(total), "checking " + name);
          }
        });
  };
  Result<BackupCheck> checked = dialect == db::Dialect::kPostgres
                                    ? StageChecked(
                                          request,
                                          [&](int64_t done, int64_t total, std::string_view what) {
                                            return bytes(done, total, what);
                                          },
                                          files, staged)
                                    : check_all();
  if (dialect == db::Dialect::kPostgres && !checked.ok() &&
      checked.status().code() != StatusCode::kAborted) {
    // A damaged archive fails the staging wherever its reading met the damage: the check,
    // which reads every entry in order, names the damage as a restore on SQLite would.
    Result<BackupCheck> again = check_all();
    if (!again.ok()) checked = again.status();
  }
  RETURN_IF_ERROR(stopped);
  if (!checked.ok()) {
    return checked.status().WithContext("the restore of " + name +
                                        " changed nothing; the previous data is serving");
  }
  BackupCheck check = std::move(*checked);
  files.set_backup_has_files(Flag(check.manifest, "includesFiles", false));

  // 2. The way back: a backup of what is there now.
  std::string safety;
  if (Flag(params, "safetyBackup", true)) {
    safety = BackupFileName();
    BackupOptions options;
    options.output = backups_dir() / safety;
    options.note = "taken before restoring " + name;
    Reporter rows(ctx, "rows", true);
    options.progress = [&](int64_t done, int64_t total, std::string_view) {
      return rows(done, total, "safety backup " + safety);
    };
    RETURN_IF_ERROR(
        Backup(std::move(options)).status().WithContext("the safety backup before the restore"));
  }

  // 3. Every node gated, then the restore as one change that opens the gate again.
  Reporter rows(ctx, "rows", dialect == db::Dialect::kPostgres);
  RETURN_IF_ERROR(rows(staged ? staged->rows : 0, check.rows, "restoring " + name, true));
  if (dialect == db::Dialect::kSqlite) {
    // The row cannot be written while the restore holds the write lock.
    RETURN_IF_ERROR(ctx.Hold(std::chrono::hours(1)));
  }
  // The gate goes back to what it was (an operator's maintenance stays on).
  auto before = services_.snapshot();
  const bool was_gated = before->cluster_state != "running" && before->cluster_state != "restoring";
  const std::string back_state = was_gated ? before->cluster_state : "running";
  const std::string back_message = was_gated ? before->cluster_message : "";
  RETURN_IF_ERROR(api::SetClusterGate(services_, "restoring", "restoring backup " + name));
  RestoreOptions options;
  options.progress = [&](int64_t done, int64_t total, std::string_view what) {
    return rows(done, total, what);
  };
  options.restore_plugins = options_.restore_plugins;
  RestoreSummary summary;
  Status restored = services_.ApplyChange(
      {"backups:restore " + name, /*schema_lock=*/true},
      [&](db::Connection& conn, const api::Snapshot& now) -> Result<api::SnapshotUpdate> {
        if (!now.schema_store) return FailedPrecondition("the application is not installed");
        ASSIGN_OR_RETURN(summary, RestoreDatabase(conn, *now.schema_store, request, check, options,
                                                  files, staged ? &*staged : nullptr));
        RETURN_IF_ERROR(db::SetClusterState(conn, back_state, back_message));
        return api::SnapshotUpdate::Reload();
      });
  const bool committed = restored.ok() || restored.tag() == "CLUSTER_UNCONFIRMED";
  if (!committed) {
    files.Abort();
    Status reopened = api::SetClusterGate(services_, back_state, back_message);
    if (!reopened.ok()) {
      core::log::Error("the restore failed and the gate could not be opened again",
                       {{"error", reopened.message()}});
    }
    return restored.WithContext("the restore of " + name +
                                " failed and changed nothing; the previous data is serving");
  }
  files.Finish();
  rows.set_to_row(true);
  RETURN_IF_ERROR(rows(summary.rows, summary.rows, "restored " + name, true));
  json::object result{
      {"name", name},
      {"rows", summary.rows},
      {"files", summary.files},
      {"safetyBackup", safety.empty() ? json::value(nullptr) : json::value(safety)},
      {"appVersion", check.manifest.contains("appVersion") ? check.manifest.at("appVersion")
                                                           : json::value(nullptr)},
      {"dialect",
       check.manifest.contains("dialect") ? check.manifest.at("dialect") : json::value(nullptr)},
      {"ms", MillisSince(started)}};
  json::array disabled;
  for (const std::string& p : check.disabled_plugins) disabled.push_back(json::value(p));
  result["disabledPlugins"] = std::move(disabled);
  if (!restored.ok()) result["warning"] = restored.message();
  return json::value(std::move(result));
}

Result<BackupCheck> BackupManager::StageChecked(
    const RestoreRequest& request,
    const std::function<Status(int64_t, int64_t, std::string_view)>& progress, RestoredFiles& files,
    std::optional<StagedRestore>& staged) {
  auto snapshot = services_.snapshot();
  if (!snapshot->schema_store) return FailedPrecondition("the application is not installed");
  ASSIGN_OR_RETURN(json::object schema, PeekBackupSchema(request));
  RETURN_IF_ERROR(CheckPlugins(schema, request, options_.plugin_version).status());
  RestoreOptions options;
  options.progress = progress;
  ASSIGN_OR_RETURN(StagedRestore s, StageRestore(services_.pool(), *snapshot->schema_store, request,
                                                 schema, options, files, kRestoreJobs));
  ASSIGN_OR_RETURN(BackupCheck check,
                   JudgeBackup(s.manifest, std::move(schema), s.archive_bytes, request,
                               options_.app_version, options_.plugin_version));
  staged = std::move(s);
  return check;
}

Status BackupManager::ApplyRetention(int keep) {
  if (keep <= 0) return Status::Ok();
  std::set<std::string> in_use;
  ASSIGN_OR_RETURN(auto restores, tasks_.List(std::string(kRestoreTask), 50));
  for (const TaskRecord& t : restores) {
    if (!t.finished()) {
      in_use.insert(Param(t.params, "name"));
      in_use.insert(fs::path(Param(t.params, "path")).filename().string());
    }
  }
  std::vector<ArchiveFile> archives = BackupFolder(backups_dir()).List();
  std::error_code ec;
  for (size_t i = static_cast<size_t>(keep); i < archives.size(); ++i) {
    if (in_use.count(archives[i].name)) continue;
    fs::remove(backups_dir() / archives[i].name, ec);
    core::log::Info("backup removed by retention", {{"name", archives[i].name}, {"keep", keep}});
  }
  return Status::Ok();
}

Result<bool> BackupManager::ScheduleTick(int64_t now_ms) {
  ASSIGN_OR_RETURN(BackupSettings s, ReadSettings());
  if (!s.scheduled) return false;
  ASSIGN_OR_RETURN(core::CronSchedule cron, core::CronSchedule::Parse(s.cron));
  if (s.next_run_ms != 0 && now_ms < s.next_run_ms) return false;
  auto next = cron.Next(std::chrono::sys_seconds(std::chrono::seconds(now_ms / 1000)));
  if (!next) return false;
  const int64_t next_ms = static_cast<int64_t>(next->time_since_epoch().count()) * 1000;
  ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
  // The one node whose compare-and-set moves the schedule on queues the backup.
  ASSIGN_OR_RETURN(auto moved, conn->Query("UPDATE " + kSettings +
                                               " SET next_run_ms = $1 WHERE id = 1 AND "
                                               "next_run_ms = $2 AND scheduled = $3",
                                           {next_ms, s.next_run_ms, true}));
  if (moved->affected_rows() != 1 || s.next_run_ms == 0) return false;  // first: only planned
  conn = {};
  ASSIGN_OR_RETURN(
      TaskRecord t,
      tasks_.Enqueue(std::string(kBackupTask),
                     json::object{{"name", BackupFileName()}, {"scheduled", true}}, std::nullopt));
  core::log::Info("scheduled backup queued", {{"task", t.id}, {"cron", s.cron}});
  return true;
}

void BackupManager::RecoverGate() {
  auto conn = services_.pool().Acquire();
  if (!conn.ok()) return;
  auto row = db::ReadClusterRow(**conn);
  *conn = {};
  if (!row.ok() || row->state != "restoring") return;
  auto restores = tasks_.List(std::string(kRestoreTask), 20);
  if (!restores.ok()) return;
  for (const TaskRecord& t : *restores) {
    if (t.finished()) continue;
    // A command on this machine that was killed while it held the restore (on SQLite its lease
    // is long: the row cannot be renewed during the restore) is over when its process is gone.
    if (!CommandAlive(t.node_id)) {
      tasks_.FailRunningOf(t.node_id, "the command that ran it stopped").status().IgnoreError();
      continue;
    }
    return;  // still going (or waiting to start)
  }
  Status s = api::SetClusterGate(services_, "running", "");
  core::log::Warn(
      "a restore ended without its node; the gate is open again, the data it had "
      "before is serving",
      {{"ok", s.ok()}, {"error", s.message()}});
}

void BackupManager::Register(TaskRunner& runner) {
  wake_ = [&runner] { runner.Wake(); };
  runner.Register(std::string(kBackupTask), [this](TaskContext& ctx) { return RunBackup(ctx); });
  runner.Register(std::string(kRestoreTask), [this](TaskContext& ctx) { return RunRestore(ctx); });
  runner.AddSweep([this] {
    RecoverGate();
    auto queued = ScheduleTick(NowMillis());
    if (!queued.ok()) {
      core::log::Warn("the backup schedule failed", {{"error", queued.status().message()}});
    }
  });
}

}  // namespace slipway::ops
