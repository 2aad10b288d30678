// Restoring a backup (issue 13), in parts that the backup manager (backup_manager.h) runs
// around the cluster's gate:
//
//   CheckBackup     reads the whole archive and checks it (archive.h: every entry's SHA-256,
//                   the manifest's, the format), then judges it (JudgeBackup): that it is a
//                   backup, that this app version may restore it (a newer one is refused:
//                   APP_VERSION_NEWER; an older one is restored into this version's tables), and
//                   that every plugin it has enabled can be loaded here at its version or later
//                   (refused, naming them all: PLUGINS_MISSING, unless the caller restores them
//                   disabled). Changes nothing. SQLite's restore starts with it.
//   StageRestore    PostgreSQL: the collections' rows loaded beside the served data, on several
//                   connections (below), from the schema PeekBackupSchema read. Its readings
//                   check the archive as CheckBackup does, between them every entry once, and
//                   JudgeBackup judges the manifest they read; only then is anything served
//                   touched. The cluster serves the data it has meanwhile.
//   RestoreDatabase the change itself, inside the caller's transaction (a cluster-wide change
//                   under the schema lock, gated): the plugins to their states in the backup,
//                   the schema replaced (SchemaStore::ReplaceAll), the tables the backup covers
//                   emptied, every row inserted (values through the field types, so a SQLite
//                   backup restores into PostgreSQL and back), PostgreSQL's identity sequences
//                   moved past the restored keys, and the files placed (RestoredFiles); with
//                   StageRestore's tables moved in instead of loading those rows here. The
//                   archive is read a second time as it is loaded; any difference from the
//                   first reading fails it. All or nothing: the caller's rollback undoes the
//                   database, RestoredFiles::Abort the files.
//
// Failures name what failed: the entry, the table and row, the plugin, the versions.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "data/schema_store.h"
#include "db/database.h"
#include "ops/archive.h"
#include "slipway/status.h"

namespace slipway::ops {

struct RestoreRequest {
  std::filesystem::path path;
  std::string password;
  // Restore with the plugins this node cannot load disabled, instead of refusing.
  bool disable_missing_plugins = false;
};

// The version of a plugin this node can load (built in, or added as a package), if any.
using PluginVersionFn = std::function<std::optional<std::string>(const std::string& name)>;

struct BackupCheck {
  boost::json::object manifest;
  boost::json::object schema;              // dump/schema.json
  std::set<std::string> disabled_plugins;  // enabled in the backup, restored disabled here
  uint64_t archive_bytes = 0;
  int64_t rows = 0;  // every row the backup holds
  uint64_t files = 0;
};

Result<BackupCheck> CheckBackup(const RestoreRequest& request, const std::string& app_version,
                                const PluginVersionFn& plugin_version,
                                const ReadProgress& progress = {});
// CheckBackup's judgement of an archive already read and checked (its manifest, its parsed
// dump/schema.json, its size).
Result<BackupCheck> JudgeBackup(boost::json::object manifest, boost::json::object schema,
                                uint64_t archive_bytes, const RestoreRequest& request,
                                const std::string& app_version,
                                const PluginVersionFn& plugin_version);
// The plugins part of it, from schema.json alone: the plugins to restore disabled, or
// PLUGINS_MISSING naming them all.
Result<std::set<std::string>> CheckPlugins(const boost::json::object& schema,
                                           const RestoreRequest& request,
                                           const PluginVersionFn& plugin_version);
// A backup's dump/schema.json (the entry a backup writes first), read without reading further:
// what StageRestore starts from. Only what that reading passes is checked (the file's kind, the
// password); the rest is StageRestore's.
Result<boost::json::object> PeekBackupSchema(const RestoreRequest& request);

// The uploaded files a restore brings: written beside the uploads under a staging directory as
// the archive is read, placed before the database commits (a new name is added; a name that
// exists with other content is replaced, its old file kept aside), and after the commit the
// files the backup does not have are removed (only when the backup has files). Abort() (or the
// destructor without Finish) takes placed files back out and puts replaced ones back. A crash
// between placing and committing leaves only files nothing names.
class RestoredFiles {
 public:
  RestoredFiles(std::filesystem::path uploads_dir, bool backup_has_files);
  ~RestoredFiles();
  RestoredFiles(const RestoredFiles&) = delete;
  RestoredFiles& operator=(const RestoredFiles&) = delete;

  // Whether the backup has the files (its manifest's includesFiles), once it is known.
  void set_backup_has_files(bool has) { has_files_ = has; }
  // A slice of file `name` (called in order; a new name starts a new file).
  Status Write(const std::string& name, std::string_view data);
  Status Place();
  void Abort();
  // After the commit.
  void Finish();
  uint64_t count() const { return written_.size(); }

 private:
  Status CloseCurrent();

  const std::filesystem::path uploads_;
  bool has_files_;
  std::filesystem::path staging_;
  std::vector<std::string> written_;
  std::vector<std::string> added_, replaced_;
  std::string current_;
  int fd_ = -1;
  bool finished_ = false;
};

struct RestoreOptions {
  // Rows and files done of the total, with what is being restored (StageRestore reports the
  // archive's bytes read of its size instead: the rows' total is in the manifest, at the
  // archive's end). An error stops the restore (a cancelled task).
  std::function<Status(int64_t done, int64_t total, std::string_view what)> progress;
  // Brings the plugins to their states in the backup (installed, enabled, settings), with
  // `disabled` left disabled, inside the restore's transaction. Wired by the application.
  std::function<Status(db::Connection&, const boost::json::array& plugins,
                       const std::set<std::string>& disabled)>
      restore_plugins;
};

struct RestoreSummary {
  std::shared_ptr<const data::Schema> schema;
  int64_t rows = 0;
  uint64_t files = 0;
};

// PostgreSQL: the rows of the collections made through the API (nearly all of a backup's bytes)
// loaded before the restore's change into tables of a schema of their own (slipway_restore_<id>)
// made as ReplaceAll makes them, on up to `jobs` connections (as many as the pool spares): two
// readings of the archive at once, each loading the collections it reaches first, and each
// table's keys, indexes and foreign keys to other staged tables built by whichever connection
// is free once its rows are in (as pg_restore -j schedules them). Nothing the cluster serves is
// touched. RestoreDatabase then drops the empty tables ReplaceAll made, moves these in
// (ALTER TABLE ... SET SCHEMA: no copy) and adds their foreign keys to the plugins' tables,
// checked, with the rest, all inside its transaction. Progress goes to `options.progress`,
// called on this thread. The readings check the archive as ReadArchive does, each hashing the
// entries it loads (every entry is one reading's), and the first gives the manifest and what
// CheckBackup would: the caller judges it (JudgeBackup) before it touches anything served. A
// failure here or in the change leaves the previous data as it was; DropStaging() removes the
// staging schema after either, and a node killed in between leaves one that the next restore
// removes first.
struct StagedRestore {
  std::string schema;
  std::vector<std::string> tables;        // named as the application's schema names them
  std::set<std::string> collections;      // whose rows they hold
  std::vector<std::string> foreign_keys;  // statements adding theirs, run in the change
  int64_t rows = 0;
  // The entries of the rows the change loads (the plugins' collections and tables), kept for it
  // unless they weigh more than 256 MiB (then it reads the archive again).
  std::vector<std::pair<ArchiveEntry, std::string>> plugin_rows;
  bool plugin_rows_kept = false;
  boost::json::object manifest;  // as the readings found it, checked
  uint64_t archive_bytes = 0;
};

// `schema`: the backup's dump/schema.json (PeekBackupSchema); a reading that finds another
// fails. The uploaded files go to `files` here; the change places them.
Result<StagedRestore> StageRestore(db::Pool& pool, const data::SchemaStore& store,
                                   const RestoreRequest& request, const boost::json::object& schema,
                                   const RestoreOptions& options, RestoredFiles& files, int jobs);
// Drops every staging schema there is (PostgreSQL; nothing on SQLite).
Status DropStaging(db::Connection& conn);

// `staged`: what StageRestore loaded (PostgreSQL), or null to load every row here.
Result<RestoreSummary> RestoreDatabase(db::Connection& conn, const data::SchemaStore& store,
                                       const RestoreRequest& request, const BackupCheck& check,
                                       const RestoreOptions& options, RestoredFiles& files,
                                       const StagedRestore* staged = nullptr);

}  // namespace slipway::ops
