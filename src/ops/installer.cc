#include "ops/installer.h"

#include <algorithm>
#include <chrono>

#include "core/clock.h"
#include "core/logging.h"
#include "db/catalog.h"
#include "db/cluster_state.h"
#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::ops {
Result<SchemaInfo> Installer::Inspect() {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  return InspectWith(*conn);
}

Result<SchemaInfo> Installer::InspectWith(db::Connection& conn) {
  ASSIGN_OR_RETURN(bool exists, db::TableExists(conn, db::kClusterTable));
  if (!exists) return SchemaInfo{SchemaStatus::kEmpty, ""};
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT schema_version FROM " +
                                       std::string(db::kClusterTable) + " WHERE id = 1"));
  if (rs->row_count() == 0) return SchemaInfo{SchemaStatus::kEmpty, ""};
  std::string text(rs->Text(0, 0));
  auto version = core::SemVer::Parse(text);
  if (!version.ok()) {
    return FailedPrecondition("the database's schema_version '" + text + "' is not a version");
  }
  SchemaInfo info{SchemaStatus::kCurrent, text};
  if (*version < options_.binary_version) info.status = SchemaStatus::kOlder;
  if (*version > options_.binary_version) info.status = SchemaStatus::kNewer;
  return info;
}

Status Installer::Install(bool force) {
  auto started = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(lock_.Acquire(options_.lock_timeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(SchemaInfo info, InspectWith(*conn));
  if (info.status != SchemaStatus::kEmpty) {
    if (!force) {
      return AlreadyExists("the database is already installed (schema version " +
                               info.schema_version + "); use install --force to start over",
                           "APP_INSTALLED");
    }
    core::log::Warn("install --force: dropping every table",
                    {{"schema_version", info.schema_version}});
    RETURN_IF_ERROR(db::DropAllTables(*conn));
  }
  std::vector<const db::Migration*> all;
  for (const auto& m : options_.install_migrations) all.push_back(&m);
  RETURN_IF_ERROR(ApplyAll(*conn, all, "", /*install=*/true));
  core::log::Info("installed", {{"version", options_.binary_version.ToString()},
                                {"migrations", all.size()},
                                {"ms", core::MillisSince(started)}});
  return Status::Ok();
}

Status Installer::Upgrade() {
  auto started = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(lock_.Acquire(options_.lock_timeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(SchemaInfo info, InspectWith(*conn));
  switch (info.status) {
    case SchemaStatus::kEmpty:
      return FailedPrecondition("the database is not installed; run slipway install",
                                "APP_NOT_INSTALLED");
    case SchemaStatus::kNewer:
      return db::NewerSchemaError(info.schema_version, options_.binary_version);
    case SchemaStatus::kCurrent:
    case SchemaStatus::kOlder:
      break;
  }
  ASSIGN_OR_RETURN(auto pending, db::PendingMigrations(*conn, options_.migrations));
  bool only_repeatable = std::all_of(pending.begin(), pending.end(),
                                     [](const db::Migration* m) { return m->repeatable; });
  if (info.status == SchemaStatus::kCurrent && only_repeatable) return Status::Ok();
  RETURN_IF_ERROR(ApplyAll(*conn, pending, info.schema_version, /*install=*/false));
  core::log::Info("upgraded", {{"from", info.schema_version},
                               {"to", options_.binary_version.ToString()},
                               {"migrations", pending.size()},
                               {"ms", core::MillisSince(started)}});
  return Status::Ok();
}

Status Installer::ApplyAll(db::Connection& conn, const std::vector<const db::Migration*>& pending,
                           const std::string& from_version, bool install) {
  const std::string to_version = options_.binary_version.ToString();
  const int total = static_cast<int>(pending.size()) + (install ? 1 : 0);
  const std::string verb =
      install ? "install " + to_version : "upgrade " + from_version + " -> " + to_version;
  auto fail = [&](const Status& s) {
    return Status(StatusCode::kAborted,
                  verb + " failed and was rolled back; the database is unchanged: " + s.message(),
                  "MIGRATION_FAILED");
  };

  ASSIGN_OR_RETURN(auto tx, db::Transaction::Begin(conn));
  RETURN_IF_ERROR(db::EnsureBookkeepingTables(conn));
  int done = 0;
  for (const db::Migration* m : pending) {
    if (options_.progress) options_.progress(done, total, "migration " + m->Id());
    auto started = std::chrono::steady_clock::now();
    Status s = db::ApplyMigration(conn, *m);
    if (!s.ok()) {
      core::log::Error("migration failed", {{"migration", m->Id()}, {"error", s.message()}});
      return fail(s);
    }
    core::log::Info("migration applied",
                    {{"migration", m->Id()}, {"ms", core::MillisSince(started)}});
    ++done;
  }
  if (install) {
    if (options_.progress) options_.progress(done, total, "install hooks");
    for (const InstallHook& hook : options_.install_hooks) {
      Status s = hook(conn);
      if (!s.ok()) return fail(s.WithContext("install hook"));
    }
    const std::string now = db::SqlNow(conn.dialect());
    auto inserted =
        conn.Query("INSERT INTO " + std::string(db::kClusterTable) +
                       " (id, schema_version, state, installed_at, updated_at) VALUES (1, $1, "
                       "'running', " +
                       now + ", " + now + ")",
                   {to_version});
    if (!inserted.ok()) return fail(inserted.status());
    ++done;
  } else {
    for (const InstallHook& hook : options_.upgrade_hooks) {
      Status s = hook(conn);
      if (!s.ok()) return fail(s.WithContext("upgrade hook"));
    }
    std::string now = db::SqlNow(conn.dialect());
    // An upgrade is a cluster-wide change: the epoch tells every running node to look (and an
    // older one to stop serving).
    auto updated = conn.Query(
        "UPDATE " + std::string(db::kClusterTable) +
            " SET schema_version = $1, epoch = epoch + 1, updated_at = " + now + " WHERE id = 1",
        {to_version});
    if (!updated.ok()) return fail(updated.status());
  }
  Status committed = tx.Commit();
  if (!committed.ok()) return fail(committed);
  if (options_.progress) options_.progress(total, total, "done");
  return Status::Ok();
}

}  // namespace slipway::ops
