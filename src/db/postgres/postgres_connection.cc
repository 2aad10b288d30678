#include "db/postgres/postgres_connection.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

#include "db/bulk.h"
#include "db/postgres/postgres_session.h"

namespace slipway::db {
namespace {

using postgres::PgConnPtr;
using postgres::PgResultPtr;
using postgres::Succeeded;

class PostgresConnection final : public Connection, public BulkLoader, public BulkReader {
 public:
  PostgresConnection(PgConnPtr conn, std::string where, int64_t statement_timeout_ms)
      : conn_(std::move(conn)),
        cancel_(PQgetCancel(conn_.get()), PQfreeCancel),
        where_(std::move(where)),
        timeout_ms_(statement_timeout_ms) {}

  void Interrupt() override { postgres::SendCancel(cancel_); }

  Status SetStatementTimeout(std::chrono::milliseconds limit) override {
    if (limit.count() == timeout_ms_) return Status::Ok();
    RETURN_IF_ERROR(ExecScript("SET statement_timeout = " + std::to_string(limit.count())));
    timeout_ms_ = limit.count();
    return Status::Ok();
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  bool healthy() const override { return healthy_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  bool in_transaction() const override {
    PGTransactionStatusType s = PQtransactionStatus(conn_.get());
    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
  }

  Result<std::unique_ptr<ResultSet>> Query(std::string_view sql,
                                           std::span<const Value> params) override {
    RETURN_IF_ERROR(CheckHealthy());
    ASSIGN_OR_RETURN(const Prepared* stmt, Prepare(sql));
    if (params.size() < stmt->param_count) {
      return Internal("statement expects " + std::to_string(stmt->param_count) +
                      " parameters, got " + std::to_string(params.size()));
    }
    // Text-format parameters; like SQLite, extra parameters are ignored.
    const size_t n = stmt->param_count;
    postgres::TextParams text(params.first(n));
    auto exec = [&](const Prepared& p) {
      return Await(PQsendQueryPrepared(conn_.get(), p.name.c_str(), static_cast<int>(n),
                                       text.values(), text.lengths(), nullptr, 0));
    };
    PgResultPtr result = exec(*stmt);
    if (!Succeeded(result.get()) && postgres::ServerForgotStatement(conn_.get(), result.get())) {
      // The server lost or invalidated our statement (DISCARD ALL, a pooler in between, a
      // changed result type after DDL). Outside a transaction nothing was changed by the
      // failure, so preparing it again is safe; inside one, the transaction is already aborted.
      std::string name = stmt->name;
      statements_.erase(std::string(sql));
      Exec("DEALLOCATE " + name);
      ASSIGN_OR_RETURN(stmt, Prepare(sql));
      result = exec(*stmt);
    }
    if (!Succeeded(result.get())) return ErrorFrom(result.get());
    return postgres::WrapResult(std::move(result));
  }

  Status BeginCopy(std::string_view copy_sql) override {
    RETURN_IF_ERROR(CheckHealthy());
    PgResultPtr started = Exec(std::string(copy_sql));
    if (started == nullptr || PQresultStatus(started.get()) != PGRES_COPY_IN) {
      return ErrorFrom(started.get());
    }
    copy_failed_ = false;
    return Status::Ok();
  }
  // Blocking sends (restores run on a thread of their own, never on a fiber).
  Status PutCopy(std::string_view rows) override {
    while (!rows.empty() && !copy_failed_) {
      const int n = static_cast<int>(std::min<size_t>(rows.size(), 1 << 20));
      if (PQputCopyData(conn_.get(), rows.data(), n) != 1) copy_failed_ = true;
      rows.remove_prefix(static_cast<size_t>(n));
    }
    return copy_failed_ ? ErrorFrom(nullptr) : Status::Ok();
  }
  Status BeginCopyOut(std::string_view select_sql) override {
    RETURN_IF_ERROR(CheckHealthy());
    ASSIGN_OR_RETURN(const Prepared* stmt, Prepare(select_sql));
    PgResultPtr described = Await(PQsendDescribePrepared(conn_.get(), stmt->name.c_str()));
    if (!Succeeded(described.get())) return ErrorFrom(described.get());
    copy_kinds_ = postgres::ColumnKinds(described.get());
    copy_names_.clear();
    for (int c = 0; c < PQnfields(described.get()); ++c) {
      copy_names_.emplace_back(PQfname(described.get(), c));
    }
    PgResultPtr started = Exec("COPY (" + std::string(select_sql) + ") TO STDOUT");
    if (started == nullptr || PQresultStatus(started.get()) != PGRES_COPY_OUT) {
      return ErrorFrom(started.get());
    }
    copy_out_ = true;
    return Status::Ok();
  }
  Result<std::unique_ptr<ResultSet>> NextCopyRows(size_t max_bytes) override {
    bool ended = !copy_out_;
    ASSIGN_OR_RETURN(auto rows, postgres::ReadCopyRows(conn_.get(), copy_kinds_, copy_names_,
                                                       copy_out_ ? max_bytes : 0, &ended));
    if (copy_out_ && ended) {
      copy_out_ = false;
      PgResultPtr done = Await(1);
      if (!Succeeded(done.get())) return ErrorFrom(done.get());
    }
    return rows;
  }

  void AbortCopy() override {
    copy_failed_ = true;
    EndCopy().IgnoreError();
  }
  Status EndCopy() override {
    if (PQputCopyEnd(conn_.get(), copy_failed_ ? "the rows could not be sent" : nullptr) != 1) {
      return ErrorFrom(nullptr);
    }
    PgResultPtr done = Await(1);
    if (!Succeeded(done.get())) return ErrorFrom(done.get());
    return copy_failed_ ? ErrorFrom(nullptr) : Status::Ok();
  }

  Status ExecScript(std::string_view sql) override {
    RETURN_IF_ERROR(CheckHealthy());
    PgResultPtr result = Exec(std::string(sql));
    if (result != nullptr && PQresultStatus(result.get()) == PGRES_EMPTY_QUERY) {
      return Status::Ok();
    }
    if (!Succeeded(result.get())) return ErrorFrom(result.get());
    return Status::Ok();
  }

  Status Begin() override { return ExecScript("BEGIN"); }

  Status Commit() override {
    RETURN_IF_ERROR(CheckHealthy());
    PGTransactionStatusType before = PQtransactionStatus(conn_.get());
    if (before == PQTRANS_IDLE) return Internal("COMMIT without a transaction");
    PgResultPtr result = Exec("COMMIT");
    if (!Succeeded(result.get())) return ErrorFrom(result.get());
    // The server answers COMMIT of a failed transaction with ROLLBACK, and no error.
    if (before == PQTRANS_INERROR || std::strcmp(PQcmdStatus(result.get()), "ROLLBACK") == 0) {
      return Aborted("the transaction was rolled back: a statement in it had failed");
    }
    return Status::Ok();
  }

  Status Rollback() override {
    RETURN_IF_ERROR(CheckHealthy());
    if (PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) {
      return Internal("ROLLBACK without a transaction");
    }
    return ExecScript("ROLLBACK");
  }

 private:
  // Past this many distinct statements, forget them all (dynamic SQL must not grow the
  // server's memory without bound).
  static constexpr size_t kMaxCachedStatements = 512;

  struct Prepared {
    std::string name;
    size_t param_count = 0;
  };

  // Every round trip goes through postgres::Await: a fiber waiting for the server suspends
  // instead of blocking its I/O thread (src/core/fiber.h); elsewhere it is a blocking wait.
  PgResultPtr Await(int sent) { return postgres::Await(conn_.get(), sent); }
  PgResultPtr Exec(const std::string& sql) { return Await(PQsendQuery(conn_.get(), sql.c_str())); }

  Status CheckHealthy() {
    if (healthy()) return Status::Ok();
    healthy_ = false;
    return Unavailable("the connection to " + where_ + " is broken", db::kDatabaseUnavailable);
  }

  Result<const Prepared*> Prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;
    if (statements_.size() >= kMaxCachedStatements) {
      PgResultPtr r = Exec("DEALLOCATE ALL");
      if (!Succeeded(r.get())) return ErrorFrom(r.get());
      statements_.clear();
    }
    Prepared p;
    p.name = "s" + std::to_string(++statement_counter_);
    PgResultPtr prepared =
        Await(PQsendPrepare(conn_.get(), p.name.c_str(), key.c_str(), 0, nullptr));
    if (!Succeeded(prepared.get())) return ErrorFrom(prepared.get());
    // The parameter count lets Query refuse a short parameter list with a clear message
    // instead of a protocol error from the server.
    PgResultPtr described = Await(PQsendDescribePrepared(conn_.get(), p.name.c_str()));
    if (!Succeeded(described.get())) return ErrorFrom(described.get());
    p.param_count = static_cast<size_t>(PQnparams(described.get()));
    return &statements_.emplace(std::move(key), std::move(p)).first->second;
  }

  Status ErrorFrom(const PGresult* r) {
    bool lost = false;
    Status status = postgres::ErrorFrom(conn_.get(), r, where_, &lost);
    if (lost) healthy_ = false;
    return status;
  }

  PgConnPtr conn_;
  std::shared_ptr<PGcancel> cancel_;  // for Interrupt(), from any thread
  bool copy_failed_ = false;
  bool copy_out_ = false;
  std::vector<CellKind> copy_kinds_;
  std::vector<std::string> copy_names_;
  const std::string where_;  // host:port/database
  bool healthy_ = true;
  int64_t timeout_ms_ = 0;  // the session's statement_timeout
  std::unordered_map<std::string, Prepared> statements_;
  uint64_t statement_counter_ = 0;
};

}  // namespace

std::string PostgresOptions::Describe() const {
  return host + ":" + std::to_string(port) + "/" + database;
}

Result<std::unique_ptr<Connection>> OpenPostgres(const PostgresOptions& options) {
  ASSIGN_OR_RETURN(PgConnPtr conn, postgres::Connect(options));
  return std::unique_ptr<Connection>(std::make_unique<PostgresConnection>(
      std::move(conn), options.Describe(), options.statement_timeout_ms));
}

}  // namespace slipway::db
