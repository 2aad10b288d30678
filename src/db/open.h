// Opens the database a configuration names: the connection pool (and, on PostgreSQL with fibers,
// the pipelined readers) and the schema lock of its dialect. One connection is opened at once, so
// a bad path or an unreachable server fails here with the path or host:port/database named.
#pragma once

#include <memory>
#include <optional>

#include "core/config.h"
#include "db/database.h"
#include "db/postgres/postgres_connection.h"
#include "db/schema_lock.h"

namespace slipway::db {

struct OpenedDatabase {
  std::unique_ptr<Pool> pool;
  std::unique_ptr<SchemaLock> schema_lock;
  // Opens a connection of its own, outside the pool, as the pool would (on SQLite it shares the
  // pool's in-process write lock): for a user that must not wait behind requests for one.
  ConnectionFactory connect;
  // PostgreSQL: the options every connection is opened with (a session that LISTENs needs them).
  std::optional<PostgresOptions> postgres;
};

// Unimplemented for an unknown dialect; Unavailable when the database cannot be reached.
Result<OpenedDatabase> OpenDatabase(const core::DatabaseConfig& config);

}  // namespace slipway::db
