// A fresh, empty database of either dialect, for tests that must hold on SQLite and PostgreSQL
// alike (TEST_P over db::Dialect).
//
// SQLite: a file in its own TempDir, with an flock() schema lock beside it. PostgreSQL: a
// TestDatabase on the shared TestPostgres server, with the advisory schema lock. The object owns
// the directory or the database; connections and locks it makes must die before it does.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "db/database.h"
#include "db/migration.h"
#include "db/schema_lock.h"
#include "test_postgres.h"
#include "test_support.h"

namespace slipway::testing {

// A core migration that runs the same SQL on both dialects.
inline db::Migration SqlMigration(std::string version, std::string name, std::string sql) {
  db::Migration m;
  m.owner = "core";
  m.version = std::move(version);
  m.name = std::move(name);
  m.sqlite_sql = sql;
  m.postgres_sql = std::move(sql);
  return m;
}

class DialectDatabase {
 public:
  explicit DialectDatabase(db::Dialect dialect) : dialect_(dialect) {}

  // Creates the database (starting the PostgreSQL server on first use).
  ::testing::AssertionResult Create();

  db::Dialect dialect() const { return dialect_; }
  // Opens connections to this database, for a db::Pool.
  db::ConnectionFactory factory() const;
  Result<std::unique_ptr<db::Connection>> Open() const { return factory()(); }
  // A new schema lock object on this database; two of them exclude each other.
  std::unique_ptr<db::SchemaLock> MakeLock() const;
  // PostgreSQL: how to connect to this database (nullopt on SQLite).
  std::optional<db::PostgresOptions> postgres_options() const {
    if (!postgres_) return std::nullopt;
    return postgres_->options();
  }

 private:
  const db::Dialect dialect_;
  TempDir dir_;
  std::optional<TestDatabase> postgres_;
};

// Test name suffix for INSTANTIATE_TEST_SUITE_P: "sqlite" or "postgres".
std::string DialectTestName(const ::testing::TestParamInfo<db::Dialect>& info);

// Every dialect, for ::testing::ValuesIn.
inline constexpr db::Dialect kAllDialects[] = {db::Dialect::kSqlite, db::Dialect::kPostgres};

}  // namespace slipway::testing

namespace slipway::db {
// Lets gtest print a Dialect parameter by name.
inline void PrintTo(Dialect dialect, std::ostream* os) { *os << DialectName(dialect); }
}  // namespace slipway::db
