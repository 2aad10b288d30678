// The database interface, as plugins see it: connections, result sets, values, transactions.
// (The connection pool and the backends are internal: src/db.)
//
// Two dialects implement it: SQLite (src/db/sqlite, the embedded default) and PostgreSQL
// (src/db/postgres). SQL is written with PostgreSQL-style placeholders ($1, $2, ...) for both;
// the SQLite backend translates them. Identifiers are always double-quoted by the caller, which
// both dialects accept. Every value is a bound parameter, never spliced into the text.
//
// Threads: a Connection is used by one thread at a time (the one that acquired it from the
// Pool). The Pool is thread-safe. A ResultSet owns its data and may outlive the statement.
//
// Failures come back as Status with the database's own message, classified by what the caller
// should do: a unique violation is AlreadyExists (HTTP 409), a NOT NULL or type violation is
// InvalidArgument, a lost connection or a busy database is Unavailable, a serialization
// failure is Aborted, and anything that means our SQL is wrong is Internal.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "slipway/status.h"

namespace slipway::db {

enum class Dialect { kSqlite, kPostgres };
std::string_view DialectName(Dialect dialect);  // "sqlite" | "postgres"

// A statement parameter. Booleans bind as 1/0 on SQLite and true/false on PostgreSQL.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string>;
inline Value Null() { return std::monostate{}; }

// What kind of value a cell holds, as far as the database says.
enum class CellKind { kNull, kInteger, kReal, kBool, kText, kJson, kBlob };

class ResultSet {
 public:
  virtual ~ResultSet() = default;
  virtual int row_count() const = 0;
  virtual int column_count() const = 0;
  virtual std::string_view column_name(int col) const = 0;
  // Rows changed by an INSERT/UPDATE/DELETE (0 for a SELECT).
  virtual int64_t affected_rows() const = 0;

  virtual CellKind Kind(int row, int col) const = 0;
  bool IsNull(int row, int col) const { return Kind(row, col) == CellKind::kNull; }
  // The value as text (digits for numbers). Valid as long as the ResultSet lives.
  virtual std::string_view Text(int row, int col) const = 0;
  virtual int64_t Int(int row, int col) const = 0;
  virtual double Double(int row, int col) const = 0;
  virtual bool Bool(int row, int col) const = 0;

  // Column index by name, or -1.
  int ColumnIndex(std::string_view name) const;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;

  // Runs one statement with bound parameters. The statement is prepared on first use and kept
  // for this connection.
  virtual Result<std::unique_ptr<ResultSet>> Query(std::string_view sql,
                                                   std::span<const Value> params) = 0;
  Result<std::unique_ptr<ResultSet>> Query(std::string_view sql,
                                           std::initializer_list<Value> params = {}) {
    return Query(sql, std::span<const Value>(params.begin(), params.size()));
  }

  // Runs one statement for its effect only (INSERT, UPDATE, DELETE, DDL with parameters).
  Status Exec(std::string_view sql, std::span<const Value> params) {
    return Query(sql, params).status();
  }
  Status Exec(std::string_view sql, std::initializer_list<Value> params = {}) {
    return Query(sql, params).status();
  }

  // Runs a script of one or more statements without parameters (DDL, migrations).
  virtual Status ExecScript(std::string_view sql) = 0;

  // Transactions; SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE) so that two writers
  // queue instead of failing on lock upgrade.
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;
  virtual bool in_transaction() const = 0;

  // False once the connection is known to be unusable (the pool then discards it).
  virtual bool healthy() const = 0;

  // Interrupts the statement running on this connection now, from any thread (its client went
  // away, the node is stopping): the statement fails with Aborted, tag CANCELLED. Nothing when
  // no statement runs. The default does nothing.
  virtual void Interrupt() {}
  // The longest a statement may run from now on (0: no limit); past it the statement fails
  // with DeadlineExceeded, tag STATEMENT_TIMEOUT. Cheap when the limit does not change. The
  // pool sets it on every borrow (src/core/cancel.h).
  virtual Status SetStatementTimeout(std::chrono::milliseconds limit) { return Status(); }
};

// Rolls back unless Commit() was called. Use: ASSIGN_OR_RETURN(auto tx, Transaction::Begin(c)).
class Transaction {
 public:
  static Result<Transaction> Begin(Connection& conn);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;
};

// Quotes an identifier for SQL ("name" with inner quotes doubled). Identifiers come from the
// schema registry or from code, never from a request.
std::string QuoteIdent(std::string_view name);

}  // namespace slipway::db
