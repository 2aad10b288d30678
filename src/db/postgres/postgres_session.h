// What the PostgreSQL connection and the advisory schema lock share: opening a libpq session
// from PostgresOptions, and owning PGconn/PGresult handles. Internal to src/db/postgres.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>

#include "db/postgres/postgres_connection.h"

namespace slipway::db::postgres {

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// Connects with keyword/value arrays (no conninfo string is ever assembled from the options,
// and the database name is never expanded as one), silences server notices, and sets the
// session to UTC, UTF8 and ISO dates. `application_name` overrides options.application_name
// when not empty. Unavailable, naming options.Describe() and libpq's reason, on failure.
Result<PgConnPtr> Connect(const PostgresOptions& options, std::string_view application_name = {});

// libpq's multi-line messages ("...failed: Connection refused\n\tIs the server running...")
// as one trimmed line.
std::string OneLine(std::string_view message);

}  // namespace slipway::db::postgres
