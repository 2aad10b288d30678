// PostgreSQL backend of db::Connection, over libpq (the cluster dialect, DESIGN section 1).
//
// A connection owns one libpq session, set to UTC, UTF8 and ISO dates, and a cache of the
// statements it prepared (one server-side prepared statement per distinct SQL text, cleared with
// DEALLOCATE ALL past 512). Parameters and results travel in text format; a ResultSet owns its
// PGresult and reads cells straight out of it.
//
// Failures, by SQLSTATE: unique violation -> AlreadyExists (UNIQUE_VIOLATION), foreign key ->
// FailedPrecondition (FOREIGN_KEY_VIOLATION), NOT NULL, CHECK and data exceptions ->
// InvalidArgument, serialization failure and deadlock -> Aborted, a statement past its
// statement_timeout -> DeadlineExceeded (STATEMENT_TIMEOUT), one cancelled by Interrupt() ->
// Aborted (CANCELLED), a lost connection or a server
// shutting down -> Unavailable, anything else (our SQL is wrong) -> Internal. A lost connection
// also makes healthy() false, so the Pool discards it and opens a fresh one on the next Acquire:
// that is how a node reconnects after the server restarts. A statement that failed is never
// retried silently, except when the server forgot a cached prepared statement outside a
// transaction (it is then prepared again, once).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "db/database.h"

namespace slipway::db {

struct PostgresOptions {
  std::string host = "127.0.0.1";  // a name, an address, or a socket directory ("/...")
  uint16_t port = 5432;
  std::string database = "slipway";
  std::string user = "slipway";
  std::string password;  // empty: none sent (trust, peer or ~/.pgpass)
  int connect_timeout_s = 5;
  std::string application_name = "slipway";
  // statement_timeout the session starts with (0: the server's default, none).
  int64_t statement_timeout_ms = 0;

  // "host:port/database", for messages.
  std::string Describe() const;
};

// Opens one connection. Unavailable, naming host:port/database and libpq's reason, when the
// server cannot be reached or refuses the login.
Result<std::unique_ptr<Connection>> OpenPostgres(const PostgresOptions& options);

}  // namespace slipway::db
