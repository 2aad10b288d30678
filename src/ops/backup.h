// A backup (issue 13): the database's logical dump and the uploaded files, written into one
// archive (archive.h), from one consistent snapshot taken while writes go on: PostgreSQL's
// REPEATABLE READ (read only), SQLite's read transaction (WAL: writers are not blocked).
//
// What the archive holds (format 1), independent of the dialect:
//   dump/schema.json        the stored definitions of the collections made through the API
//                           (slipway_collections / slipway_fields, verbatim), the names of the
//                           collections plugins define, and the plugins with their versions,
//                           state and settings
//   dump/rows/<c>/<n>.ndjson  every record of collection <c> (user, plugin and join
//                           collections), one JSON object per line keyed by field name, values as
//                           the API renders them by field type (instants in UTC, decimals and
//                           snowflake ids as strings), password hashes included; in key order,
//                           in chunks of about 8 MiB
//   dump/tables/<t>/000001.ndjson  the rows of plugins' own tables that are not collections
//                           (role grants and assignments, revoked tokens), cells as the database
//                           types them; Slipway's bookkeeping of nodes, leases, tasks, pending
//                           removals and applied migrations, and the deployment's backup
//                           settings, migration rules and import log, are not backed up
//   files/uploads/<name>    the uploaded files (unless left out)
// The manifest adds the app version, the dialect, the plugins, the row count of every
// collection, the files, the creation time and a note.
//
// Failures: the archive is not left behind (ArchiveWriter); the error names what failed.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "data/schema_store.h"
#include "db/database.h"
#include "slipway/status.h"

namespace slipway::ops {

struct BackupOptions {
  std::filesystem::path output;
  std::string password;  // empty: not encrypted
  bool files = true;
  std::filesystem::path uploads_dir;
  std::string note;
  std::string app_version;
  // Rows and files done of the total, with what is being written. An error stops the backup (a
  // cancelled task) and is returned.
  std::function<Status(int64_t done, int64_t total, std::string_view what)> progress;
  size_t chunk_bytes = 8 << 20;
  // The manifest's kind: "backup", or "migration" for a package (migration.h).
  std::string kind = "backup";
  // Chooses, inside the snapshot, the collections and plugin tables whose rows go in (null:
  // all of them), and may add fields to the manifest.
  std::function<Result<std::set<std::string>>(db::Connection&, const data::Schema&,
                                              boost::json::object* manifest)>
      select;
};

struct BackupSummary {
  std::filesystem::path path;
  boost::json::object manifest;
  uint64_t archive_bytes = 0;
  int64_t rows = 0;
  uint64_t files = 0;
};

// The summary as one JSON line ("path", "rows", "files", "bytes", "manifest"): what
// `slipway backup create --json` prints, and what a node reads back from the process that made
// its backup. Parsing gives nothing for any other line (a log line in LOG_FORMAT=json is an
// object too).
boost::json::object BackupSummaryJson(const BackupSummary& summary);
std::optional<BackupSummary> ParseBackupSummary(std::string_view line);

// An archive of one kind read whole and checked (archive.h: every checksum), with its
// dump/schema.json parsed. InvalidArgument for a damaged or foreign file, for another kind
// (`wrong_kind_code`, the message naming both kinds), and for a missing or unreadable
// schema.json (`bad_code`). `noun` names the archive in messages ("backup").
struct DumpContents {
  boost::json::object manifest;
  boost::json::object schema;
  uint64_t archive_bytes = 0;
};
Result<DumpContents> ReadDump(const std::filesystem::path& path, const std::string& password,
                              std::string_view kind, std::string_view noun,
                              std::string_view wrong_kind_code, std::string_view bad_code,
                              const std::function<void(uint64_t done, uint64_t total)>& progress);

// A slice of dump/schema.json appended to `text`, refused (`bad_code`) past 64 MiB.
Status AppendDumpSchema(std::string* text, std::string_view data, std::string_view noun,
                        std::string_view bad_code);
// ReadDump's two checks of what it read: the manifest names the kind, and schema.json's text
// is a JSON object.
Status CheckDumpKind(const boost::json::object& manifest, std::string_view kind,
                     std::string_view noun, std::string_view wrong_kind_code);
Result<boost::json::object> ParseDumpSchema(std::string_view text, std::string_view noun,
                                            std::string_view bad_code);

// `conn` is a connection of its own, outside any transaction; it is left outside one.
Result<BackupSummary> CreateBackup(db::Connection& conn, const data::SchemaStore& store,
                                   const BackupOptions& options);

// Plugins' own tables that are not collections, parents first. Slipway's bookkeeping of running
// nodes, leases, tasks, removals and migrations, and the deployment's backup settings,
// migration rules and import log, belong to the database they are in, not to a backup; the
// definitions and plugins go into schema.json; tables of removed collections wait for their drop
// (data/schema_store.h) and are not part of the application any more.
Result<std::vector<std::string>> PluginTables(db::Connection& conn, const data::Schema& schema);
// The collections of `schema`, each after those its foreign keys point at.
Result<std::vector<const data::Collection*>> CollectionsParentsFirst(db::Connection& conn,
                                                                     const data::Schema& schema);

// The default file name of a backup made now, NocoBase's form: backup_YYYYMMDD_HHMMSS_NNNN.slwbak.
std::string BackupFileName();
// `prefix`_YYYYMMDD_HHMMSS_NNNN`extension` (UTC, four random digits).
std::string TimestampedFileName(std::string_view prefix, std::string_view extension);

}  // namespace slipway::ops
