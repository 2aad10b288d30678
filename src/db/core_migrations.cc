#include "db/core_migrations.h"

namespace slipway::db {
namespace {

// SQL that reads the same on both dialects apart from the timestamp and JSON types.
std::string ForDialect(std::string sql, bool postgres) {
  auto replace_all = [&](std::string_view from, std::string_view to) {
    for (size_t pos = 0; (pos = sql.find(from, pos)) != std::string::npos; pos += to.size()) {
      sql.replace(pos, from.size(), to);
    }
  };
  replace_all("@TIMESTAMP@", postgres ? "TIMESTAMPTZ" : "TEXT");
  replace_all("@NOW@", postgres ? "now()" : "CURRENT_TIMESTAMP");
  replace_all("@JSON@", postgres ? "JSONB" : "TEXT");
  return sql;
}

Migration Sql(std::string version, std::string name, const std::string& sql) {
  Migration m;
  m.owner = "core";
  m.version = std::move(version);
  m.name = std::move(name);
  m.sqlite_sql = ForDialect(sql, false);
  m.postgres_sql = ForDialect(sql, true);
  return m;
}

}  // namespace

std::vector<Migration> CoreMigrations() {
  std::vector<Migration> all;
  all.push_back(Sql("0.1.0", "0001-node-registry", R"sql(
CREATE TABLE slipway_nodes (
  node_id TEXT PRIMARY KEY,
  address TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL,
  worker_id INTEGER,
  state TEXT NOT NULL,
  applied_epoch BIGINT NOT NULL DEFAULT 0,
  started_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@,
  heartbeat_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@
);
)sql"));
  all.push_back(Sql("0.1.0", "0002-plugins", R"sql(
CREATE TABLE slipway_plugins (
  name TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  enabled BOOLEAN NOT NULL DEFAULT FALSE,
  installed BOOLEAN NOT NULL DEFAULT FALSE,
  built_in BOOLEAN NOT NULL DEFAULT FALSE,
  options @JSON@,
  error TEXT,
  created_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@,
  updated_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@
);
)sql"));
  all.push_back(Sql("0.1.0", "0003-collections", R"sql(
CREATE TABLE slipway_collections (
  name TEXT PRIMARY KEY,
  options @JSON@ NOT NULL,
  sort INTEGER NOT NULL DEFAULT 0,
  created_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@,
  updated_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@
);
CREATE TABLE slipway_fields (
  collection_name TEXT NOT NULL,
  name TEXT NOT NULL,
  options @JSON@ NOT NULL,
  sort INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (collection_name, name)
);
)sql"));
  // The plugin manager: the version a package brings (added, not yet migrated to) and where
  // its files are under STORAGE_PATH.
  all.push_back(Sql("0.1.0", "0004-plugin-packages", R"sql(
ALTER TABLE slipway_plugins ADD COLUMN package_version TEXT;
ALTER TABLE slipway_plugins ADD COLUMN package_path TEXT;
)sql"));
  // Leases kept by the database itself, so that nodes sharing it need no Redis to be one cluster
  // (src/cluster/database/): lease locks, and the worker ids that keep Snowflake ids unique. The
  // primary key is what makes a lease exclusive; expiry is Unix milliseconds by the database's
  // clock (db::SqlNowMillis), so the nodes' own clocks never decide who holds what. A released
  // worker id keeps its row (expired at release), so that the id unused the longest goes first.
  // A database from before this migration gets it at the next start (Installer::Upgrade applies
  // what a binary has and the database lacks, at the same version too).
  all.push_back(Sql("0.1.0", "0005-cluster-leases", R"sql(
CREATE TABLE slipway_locks (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE TABLE slipway_worker_ids (
  worker_id INTEGER PRIMARY KEY CHECK (worker_id BETWEEN 0 AND 1023),
  owner TEXT NOT NULL,
  node_id TEXT NOT NULL,
  acquired_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
)sql"));
  // Two-phase removals (DESIGN section 2): a removed field or collection leaves the schema first
  // and its column or table is dropped once every live node has stopped using it, which
  // `drained_epoch` tells. `instance` tells two processes with one NODE_ID apart.
  all.push_back(Sql("0.1.0", "0006-drains-and-node-instances", R"sql(
ALTER TABLE slipway_nodes ADD COLUMN instance TEXT NOT NULL DEFAULT '';
ALTER TABLE slipway_nodes ADD COLUMN drained_epoch BIGINT NOT NULL DEFAULT 0;
CREATE TABLE slipway_pending_drops (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL DEFAULT '',
  epoch BIGINT NOT NULL,
  statements @JSON@ NOT NULL,
  rebuild BOOLEAN NOT NULL DEFAULT FALSE,
  created_at @TIMESTAMP@ NOT NULL DEFAULT @NOW@,
  PRIMARY KEY (table_name, column_name)
);
)sql"));
  return all;
}

}  // namespace slipway::db
