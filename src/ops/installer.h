// Installer: brings a database to this binary's schema, safely (DESIGN section 2).
//
// Inspect() compares the database's schema_version with the binary's version. Install() and
// Upgrade() take the schema lock, look again (another node may have finished the work while we
// waited), and then run every pending migration, the install hooks (first install only) and the
// schema_version update inside ONE transaction: a failure anywhere rolls all of it back and the
// database keeps the previous version exactly. A database newer than the binary is never
// written to.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/semver.h"
#include "db/database.h"
#include "db/migration.h"
#include "db/schema_lock.h"

namespace slipway::ops {

enum class SchemaStatus {
  kEmpty,    // nothing installed
  kCurrent,  // schema_version == binary
  kOlder,    // schema_version < binary: upgrade needed
  kNewer,    // schema_version > binary: this binary must not serve
};

struct SchemaInfo {
  SchemaStatus status = SchemaStatus::kEmpty;
  std::string schema_version;  // empty when kEmpty
};

// Reports each step of a long operation: `done` of `total`, and what is being done.
using ProgressFn = std::function<void(int done, int total, std::string_view what)>;

using InstallHook = db::InstallHook;

struct InstallerOptions {
  core::SemVer binary_version;
  // What an upgrade runs (the pending ones), and what an install runs (all of them); the two
  // differ by the plugins: a fresh install enables the preset, an upgrade the enabled ones.
  std::vector<db::Migration> migrations;
  std::vector<db::Migration> install_migrations;
  std::vector<InstallHook> install_hooks;
  std::vector<InstallHook> upgrade_hooks;  // after the migrations, in the upgrade transaction
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(10)};
  ProgressFn progress;  // may be empty
};

class Installer {
 public:
  Installer(db::Pool& pool, db::SchemaLock& lock, InstallerOptions options)
      : pool_(pool), lock_(lock), options_(std::move(options)) {}

  Result<SchemaInfo> Inspect();
  // Installs into an empty database. With `force`, drops every table first. AlreadyExists when
  // the database is installed and `force` is false.
  Status Install(bool force);
  // Upgrades an older schema; OK and nothing done when current. FailedPrecondition
  // (APP_OUTDATED) when the database is newer than the binary. A failed migration comes back as
  // Aborted (MIGRATION_FAILED) naming the migration, with the database unchanged.
  Status Upgrade();

 private:
  Result<SchemaInfo> InspectWith(db::Connection& conn);
  Status ApplyAll(db::Connection& conn, const std::vector<const db::Migration*>& pending,
                  const std::string& from_version, bool install);

  db::Pool& pool_;
  db::SchemaLock& lock_;
  InstallerOptions options_;
};

}  // namespace slipway::ops
