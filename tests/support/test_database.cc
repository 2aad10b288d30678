#include "test_database.h"

#include "db/postgres/postgres_schema_lock.h"
#include "db/sqlite/sqlite_connection.h"

namespace slipway::testing {

::testing::AssertionResult DialectDatabase::Create() {
  if (dialect_ == db::Dialect::kSqlite) return ::testing::AssertionSuccess();
  postgres_.emplace();
  return postgres_->Create();
}

db::ConnectionFactory DialectDatabase::factory() const {
  if (dialect_ == db::Dialect::kSqlite) {
    db::SqliteOptions options;
    options.path = dir_.path() / "test.sqlite";
    return [options] { return db::OpenSqlite(options); };
  }
  db::PostgresOptions options = postgres_->options();
  return [options] { return db::OpenPostgres(options); };
}

std::unique_ptr<db::SchemaLock> DialectDatabase::MakeLock() const {
  if (dialect_ == db::Dialect::kSqlite) return db::MakeFileSchemaLock(dir_.path() / "test.lock");
  return db::MakePostgresSchemaLock(postgres_->options());
}

std::string DialectTestName(const ::testing::TestParamInfo<db::Dialect>& info) {
  return std::string(db::DialectName(info.param));
}

}  // namespace slipway::testing
