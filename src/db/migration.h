// Migrations: versioned, checksummed changes to the database schema (DESIGN section 2).
//
// A migration is identified by its owner ("core" or a plugin name) and name, carries the version
// that introduced it, and is either SQL (per dialect) or code. Applied migrations are recorded in
// slipway_migrations with a checksum of their SQL (or of their declared revision, for code), so a
// migration that was edited after it ran is detected and refused instead of silently diverging.
//
// The runner never opens transactions itself: the caller runs every pending migration and the
// schema_version update inside one transaction, so a failure anywhere leaves the previous schema
// exactly as it was.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "db/database.h"

namespace slipway::db {

struct Migration {
  std::string owner;         // "core" or the plugin's name
  std::string version;       // semantic version that introduced it; orders migrations
  std::string name;          // unique within the owner, e.g. "create-node-table"
  std::string sqlite_sql;    // the SQL for SQLite, or empty when `run` is set
  std::string postgres_sql;  // the SQL for PostgreSQL, or empty when `run` is set
  // Code migrations: runs inside the caller's transaction. `revision` stands in for the code in
  // the checksum; change it when the code's effect changes.
  std::function<Status(Connection&)> run;
  std::string revision;
  // Runs every time (it is idempotent, e.g. a table sync) and is never recorded.
  bool repeatable = false;

  std::string Id() const { return owner + "/" + version + "/" + name; }
  std::string Checksum(Dialect dialect) const;  // hex SHA-256
};

// Runs once inside an install or upgrade transaction, after the migrations (seed data: the first
// administrator, the plugins' rows, ...).
using InstallHook = std::function<Status(Connection&)>;

struct AppliedMigration {
  std::string owner, name, version, checksum, applied_at;
};

// Creates slipway_migrations and slipway_cluster when missing (idempotent). These two tables are
// the runner's own bookkeeping and so cannot themselves be created by a migration.
Status EnsureBookkeepingTables(Connection& conn);

Result<std::vector<AppliedMigration>> ListApplied(Connection& conn);

// The migrations of `all` that are not applied yet, in order: owners as `all` first lists them,
// then version, then name. Fails with
// FailedPrecondition when an applied migration's checksum differs from the one in `all`, naming
// the migration.
Result<std::vector<const Migration*>> PendingMigrations(Connection& conn,
                                                        const std::vector<Migration>& all);

// Runs one migration and records it. Must be called inside a transaction.
Status ApplyMigration(Connection& conn, const Migration& migration);

}  // namespace slipway::db
