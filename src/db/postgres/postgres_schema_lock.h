// The schema lock on PostgreSQL (DESIGN section 2, rule 1): a session advisory lock held on a
// dedicated connection that the lock object owns.
//
// Because the lock belongs to the session, it dies with the process (the server ends the
// session when the socket closes), so a crashed node never leaves a stale lock. The connection
// is opened on the first Acquire/TryAcquire, kept for later ones, and closed when the object is
// destroyed. Advisory locks are per database: nodes sharing a database exclude each other.
//
// Failures: Acquire is Unavailable when another session kept the lock for the whole timeout,
// or when the server cannot be reached (naming host:port/database). held() turns false as soon
// as the connection is seen to be lost, since the server has then released the lock.
#pragma once

#include <cstdint>
#include <memory>

#include "db/postgres/postgres_connection.h"
#include "db/schema_lock.h"

namespace slipway::db {

// The advisory lock key every Slipway node uses: the ASCII bytes of "slipway" as one integer.
inline constexpr int64_t kSchemaLockKey = 0x736C6970776179;

std::unique_ptr<SchemaLock> MakePostgresSchemaLock(PostgresOptions options,
                                                   int64_t key = kSchemaLockKey);

}  // namespace slipway::db
