#include "db/open.h"

#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_pipeline.h"
#include "db/postgres/postgres_schema_lock.h"
#include "db/sqlite/sqlite_connection.h"

namespace slipway::db {

Result<OpenedDatabase> OpenDatabase(const core::DatabaseConfig& config) {
  OpenedDatabase out;
  if (config.dialect == "postgres") {
    PostgresOptions options;
    options.host = config.host;
    options.port = config.port;
    options.database = config.database;
    options.user = config.user;
    options.password = config.password;
    out.connect = [options] { return OpenPostgres(options); };
    out.postgres = options;
    out.pool =
        std::make_unique<Pool>(Dialect::kPostgres, out.connect, config.pool_max, config.fiber_pool);
    if (config.fiber_pool > 0) {
      out.pool->SetReaderFactory([options] { return Result(MakePostgresPipeline(options)); });
    }
    out.schema_lock = MakePostgresSchemaLock(options, kSchemaLockKey);
  } else if (config.dialect == "sqlite") {
    SqliteOptions options;
    options.path = config.storage;
    options.synchronous = config.sqlite_synchronous;
    options.write_lock = std::make_shared<std::mutex>();
    out.connect = [options] { return OpenSqlite(options); };
    out.pool = std::make_unique<Pool>(Dialect::kSqlite, out.connect, config.pool_max);
    out.schema_lock = MakeFileSchemaLock(config.storage.string() + ".lock");
  } else {
    return Unimplemented("DB_DIALECT=" + config.dialect + " is not supported by this build");
  }
  auto conn = out.pool->Acquire();
  if (!conn.ok()) return conn.status();
  return out;
}

}  // namespace slipway::db
