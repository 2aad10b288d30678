// What the PostgreSQL connection and the advisory schema lock share: opening a libpq session
// from PostgresOptions, and owning PGconn/PGresult handles. Internal to src/db/postgres.
#pragma once

#include <libpq-fe.h>

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// Collects the results of what a PQsend* call queued (`sent` is its return value), the way
// PQexec does (the last result, or the first failed one), but waits for the server through
// fiber::WaitReadable: inside a fiber only the fiber is suspended. Null when nothing could be
// sent or the connection broke (PQerrorMessage says why).
PgResultPtr Await(PGconn* conn, int sent);

// Statement parameters in libpq's text format (booleans as true/false, numbers as the shortest
// text that reads back exactly, null as a null pointer). Points into `params`, which must outlive
// it.
class TextParams {
 public:
  explicit TextParams(std::span<const Value> params);
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  int size() const { return static_cast<int>(values_.size()); }

 private:
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<std::array<char, 32>> numbers_;
};

// A result that carries rows or a command's completion (not an error).
bool Succeeded(const PGresult* r);

// True when a statement failed because the server no longer has our prepared statement (or its
// plan changed result type after DDL) outside a transaction: preparing it again is safe.
bool ServerForgotStatement(PGconn* conn, const PGresult* r);
// The same test without the transaction check (for a connection in pipeline mode).
bool StatementInvalidated(const PGresult* r);
// The statement failed because a cancel request reached it (SQLSTATE 57014, not its timeout).
bool CancelledByRequest(const PGresult* r);

// Classifies a failed result (or a null one: libpq could not even send) as the Status the
// interface promises (db/database.h). `*lost` is set when the connection is gone.
Status ErrorFrom(PGconn* conn, const PGresult* r, std::string_view where, bool* lost);

// Reads COPY ... TO STDOUT rows (text format) into a ResultSet of at most about `max_bytes`;
// `*ended` is set once the server sent the last row (the caller then collects the COPY's final
// result). Cells read as a query's would, by `kinds` (ColumnKinds of the statement's
// description).
Result<std::unique_ptr<ResultSet>> ReadCopyRows(PGconn* conn, const std::vector<CellKind>& kinds,
                                                const std::vector<std::string>& names,
                                                size_t max_bytes, bool* ended);
std::vector<CellKind> ColumnKinds(const PGresult* described);

// The ResultSet over a successful result.
std::unique_ptr<ResultSet> WrapResult(PgResultPtr result);

// libpq's multi-line messages ("...failed: Connection refused\n\tIs the server running...")
// as one trimmed line.
std::string OneLine(std::string_view message);

// Asks the server to cancel what the session behind `cancel` runs now, on a thread of its own
// (PQcancel opens a connection to the server; the caller may be an I/O thread). Null: nothing.
void SendCancel(std::shared_ptr<PGcancel> cancel);

}  // namespace slipway::db::postgres
