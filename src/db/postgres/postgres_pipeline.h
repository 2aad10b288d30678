// A PostgreSQL connection in pipeline mode, shared by the fibers of one I/O thread, for reads
// (a record get or list: single statements outside a transaction).
//
// Why: a query sent on its own costs a wake-up of its backend and one of the reader for every
// statement, and on a small machine those wake-ups cost more than the query. Here every fiber
// that runs in one turn of the thread's loop queues its statement; one Sync then sends them
// together, the backend answers them in one go, and one read brings the answers back, each
// handed to the fiber that waits for it (src/core/fiber.h).
//
// Statements are prepared once per connection (at most 512; past that, new ones run unnamed).
// An error fails only the statement that caused it: the statements behind it in the same batch,
// which the server skips, are sent again (they are reads, so that is safe). A lost connection
// fails the statements in flight with Unavailable, and the next Query connects again.
//
// Query only, and only from a fiber; Begin, ExecScript and the rest are refused (Internal).
#pragma once

#include <memory>

#include "db/postgres/postgres_connection.h"

namespace slipway::db {

std::unique_ptr<Connection> MakePostgresPipeline(const PostgresOptions& options);

// The highest $N placeholder in `sql` (outside quotes): how many parameters it takes.
int CountPlaceholders(std::string_view sql);

}  // namespace slipway::db
