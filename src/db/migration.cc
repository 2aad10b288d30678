#include "db/migration.h"

#include <sodium.h>

#include <algorithm>
#include <map>

#include "core/semver.h"
#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::db {

std::string Migration::Checksum(Dialect dialect) const {
  std::string input = Id();
  input += '\n';
  input += run ? "code:" + revision : (dialect == Dialect::kSqlite ? sqlite_sql : postgres_sql);
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
  return hex;
}

Status EnsureBookkeepingTables(Connection& conn) {
  const bool pg = conn.dialect() == Dialect::kPostgres;
  const std::string ts = pg ? "TIMESTAMPTZ NOT NULL DEFAULT now()"
                            : "TEXT NOT NULL DEFAULT (" + SqlNow(conn.dialect()) + ")";
  std::string sql = "CREATE TABLE IF NOT EXISTS " + std::string(kMigrationsTable) +
                    " (owner TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, "
                    "checksum TEXT NOT NULL, applied_at " +
                    ts +
                    ", PRIMARY KEY (owner, name));"
                    "CREATE TABLE IF NOT EXISTS " +
                    std::string(kClusterTable) +
                    " (id INTEGER PRIMARY KEY CHECK (id = 1), schema_version TEXT NOT NULL, "
                    "state TEXT NOT NULL DEFAULT 'running', message TEXT, "
                    "epoch BIGINT NOT NULL DEFAULT 0, installed_at " +
                    ts + ", updated_at " + ts + ");";
  return conn.ExecScript(sql);
}

Result<std::vector<AppliedMigration>> ListApplied(Connection& conn) {
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT owner, name, version, checksum, applied_at FROM " +
                              std::string(kMigrationsTable) + " ORDER BY applied_at, owner, name"));
  std::vector<AppliedMigration> out;
  for (int r = 0; r < rs->row_count(); ++r) {
    out.push_back({std::string(rs->Text(r, 0)), std::string(rs->Text(r, 1)),
                   std::string(rs->Text(r, 2)), std::string(rs->Text(r, 3)),
                   std::string(rs->Text(r, 4))});
  }
  return out;
}

Result<std::vector<const Migration*>> PendingMigrations(Connection& conn,
                                                        const std::vector<Migration>& all) {
  ASSIGN_OR_RETURN(auto applied, ListApplied(conn));
  std::map<std::pair<std::string, std::string>, const AppliedMigration*> by_id;
  for (const auto& a : applied) by_id[{a.owner, a.name}] = &a;

  std::vector<const Migration*> pending;
  for (const Migration& m : all) {
    if (m.repeatable) {
      pending.push_back(&m);
      continue;
    }
    auto it = by_id.find({m.owner, m.name});
    if (it == by_id.end()) {
      pending.push_back(&m);
      continue;
    }
    std::string now = m.Checksum(conn.dialect());
    if (it->second->checksum != now) {
      return FailedPrecondition("migration " + m.Id() + " was changed after it was applied " +
                                    "(recorded checksum " + it->second->checksum.substr(0, 12) +
                                    ", this binary has " + now.substr(0, 12) +
                                    "); refusing to continue",
                                "MIGRATION_CHECKSUM_MISMATCH");
    }
  }
  // Owners in the order `all` lists them (the core, then plugins after what they depend on),
  // then version, then name. An unparsable version is a programming error caught by tests.
  std::map<std::string, size_t> owner_rank;
  for (const Migration& m : all) owner_rank.emplace(m.owner, owner_rank.size());
  std::stable_sort(pending.begin(), pending.end(), [&](const Migration* a, const Migration* b) {
    if (a->owner != b->owner) return owner_rank[a->owner] < owner_rank[b->owner];
    auto va = core::SemVer::Parse(a->version);
    auto vb = core::SemVer::Parse(b->version);
    if (va.ok() && vb.ok() && *va != *vb) return *va < *vb;
    return a->name < b->name;
  });
  return pending;
}

Status ApplyMigration(Connection& conn, const Migration& migration) {
  if (!conn.in_transaction())
    return Internal("migration " + migration.Id() + " run outside a transaction");
  Status status;
  if (migration.run) {
    status = migration.run(conn);
  } else {
    const std::string& sql =
        conn.dialect() == Dialect::kSqlite ? migration.sqlite_sql : migration.postgres_sql;
    status = conn.ExecScript(sql);
  }
  if (!status.ok()) return status.WithContext("migration " + migration.Id() + " failed");
  if (migration.repeatable) return Status::Ok();
  auto recorded = conn.Query(
      "INSERT INTO " + std::string(kMigrationsTable) +
          " (owner, name, version, checksum, applied_at) VALUES ($1, $2, $3, $4, " +
          SqlNow(conn.dialect()) + ")",
      {migration.owner, migration.name, migration.version, migration.Checksum(conn.dialect())});
  if (!recorded.ok()) return recorded.status().WithContext("record migration " + migration.Id());
  return Status::Ok();
}

}  // namespace slipway::db
