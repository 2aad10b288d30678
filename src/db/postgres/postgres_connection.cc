#include "db/postgres/postgres_connection.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "db/postgres/postgres_session.h"

namespace slipway::db {
namespace {

using postgres::OneLine;
using postgres::PgConnPtr;
using postgres::PgResultPtr;

// Type OIDs from pg_type.dat; stable across server versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kJsonOid = 114;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kJsonbOid = 3802;

CellKind KindOfType(Oid type) {
  switch (type) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return CellKind::kInteger;
    case kFloat4Oid:
    case kFloat8Oid:
      return CellKind::kReal;
    case kBoolOid:
      return CellKind::kBool;
    case kJsonOid:
    case kJsonbOid:
      return CellKind::kJson;
    case kByteaOid:
      return CellKind::kBlob;
    default:
      return CellKind::kText;  // numeric included: its text keeps every digit
  }
}

class PostgresResultSet final : public ResultSet {
 public:
  explicit PostgresResultSet(PgResultPtr result) : result_(std::move(result)) {
    PGresult* r = result_.get();
    rows_ = PQntuples(r);
    kinds_.reserve(PQnfields(r));
    for (int c = 0; c < PQnfields(r); ++c) kinds_.push_back(KindOfType(PQftype(r, c)));
    // PQcmdTuples also counts the rows a SELECT returned; the interface wants 0 for those.
    if (std::strncmp(PQcmdStatus(r), "SELECT", 6) != 0) {
      std::string_view n = PQcmdTuples(r);
      std::from_chars(n.data(), n.data() + n.size(), affected_);
    }
  }

  int row_count() const override { return rows_; }
  int column_count() const override { return static_cast<int>(kinds_.size()); }
  std::string_view column_name(int col) const override { return PQfname(result_.get(), col); }
  int64_t affected_rows() const override { return affected_; }

  CellKind Kind(int row, int col) const override {
    return PQgetisnull(result_.get(), row, col) ? CellKind::kNull : kinds_[col];
  }

  std::string_view Text(int row, int col) const override {
    if (kinds_[col] == CellKind::kBlob && !PQgetisnull(result_.get(), row, col)) {
      return Bytes(row, col);
    }
    return Raw(row, col);
  }

  int64_t Int(int row, int col) const override {
    switch (kinds_[col]) {
      case CellKind::kBool:
        return Bool(row, col) ? 1 : 0;
      case CellKind::kReal:
        return static_cast<int64_t>(Double(row, col));
      default: {
        std::string_view t = Raw(row, col);
        int64_t v = 0;
        std::from_chars(t.data(), t.data() + t.size(), v);
        return v;
      }
    }
  }

  double Double(int row, int col) const override {
    if (kinds_[col] == CellKind::kBool) return Bool(row, col) ? 1 : 0;
    std::string_view t = Raw(row, col);
    double v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);  // also reads NaN and [-]Infinity
    return v;
  }

  bool Bool(int row, int col) const override {
    std::string_view t = Raw(row, col);
    switch (kinds_[col]) {
      case CellKind::kBool:
        return t == "t";
      case CellKind::kInteger:
      case CellKind::kReal:
        return Double(row, col) != 0;
      default:
        return t == "t" || t == "true" || t == "1";
    }
  }

 private:
  std::string_view Raw(int row, int col) const {
    return {PQgetvalue(result_.get(), row, col),
            static_cast<size_t>(PQgetlength(result_.get(), row, col))};
  }

  // bytea arrives hex-escaped ("\x0aff"); Text() hands out the bytes, decoded on first use.
  std::string_view Bytes(int row, int col) const {
    int64_t key = static_cast<int64_t>(row) * column_count() + col;
    auto it = bytes_.find(key);
    if (it == bytes_.end()) {
      size_t length = 0;
      unsigned char* raw = PQunescapeBytea(
          reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, col)), &length);
      std::string decoded;
      if (raw != nullptr) decoded.assign(reinterpret_cast<const char*>(raw), length);
      PQfreemem(raw);
      // unordered_map nodes never move, so the views handed out stay valid.
      it = bytes_.emplace(key, std::move(decoded)).first;
    }
    return it->second;
  }

  PgResultPtr result_;
  std::vector<CellKind> kinds_;
  int rows_ = 0;
  int64_t affected_ = 0;
  mutable std::unordered_map<int64_t, std::string> bytes_;
};

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(PgConnPtr conn, std::string where)
      : conn_(std::move(conn)), where_(std::move(where)) {}

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
    std::vector<const char*> values(n);
    std::vector<int> lengths(n);
    std::vector<std::array<char, 32>> numbers(n);
    for (size_t i = 0; i < n; ++i) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
              values[i] = nullptr;
            } else if constexpr (std::is_same_v<T, bool>) {
              values[i] = v ? "true" : "false";
              lengths[i] = v ? 4 : 5;
            } else if constexpr (std::is_same_v<T, std::string>) {
              values[i] = v.c_str();
              lengths[i] = static_cast<int>(v.size());
            } else {  // int64_t, double: shortest text that reads back exactly
              auto [end, ec] = std::to_chars(numbers[i].data(), numbers[i].data() + 31, v);
              *end = '\0';
              values[i] = numbers[i].data();
              lengths[i] = static_cast<int>(end - numbers[i].data());
            }
          },
          params[i]);
    }
    auto exec = [&](const Prepared& p) {
      return PgResultPtr(PQexecPrepared(conn_.get(), p.name.c_str(), static_cast<int>(n),
                                        values.data(), lengths.data(), nullptr, 0));
    };
    PgResultPtr result = exec(*stmt);
    if (!Succeeded(result.get()) && ServerForgotStatement(result.get())) {
      // The server lost or invalidated our statement (DISCARD ALL, a pooler in between, a
      // changed result type after DDL). Outside a transaction nothing was changed by the
      // failure, so preparing it again is safe; inside one, the transaction is already aborted.
      std::string name = stmt->name;
      statements_.erase(std::string(sql));
      PQclear(PQexec(conn_.get(), ("DEALLOCATE " + name).c_str()));
      ASSIGN_OR_RETURN(stmt, Prepare(sql));
      result = exec(*stmt);
    }
    if (!Succeeded(result.get())) return ErrorFrom(result.get());
    return std::unique_ptr<ResultSet>(std::make_unique<PostgresResultSet>(std::move(result)));
  }

  Status ExecScript(std::string_view sql) override {
    RETURN_IF_ERROR(CheckHealthy());
    PgResultPtr result(PQexec(conn_.get(), std::string(sql).c_str()));
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
    PgResultPtr result(PQexec(conn_.get(), "COMMIT"));
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

  static bool Succeeded(const PGresult* r) {
    if (r == nullptr) return false;
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }

  static std::string_view SqlState(const PGresult* r) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    return state ? state : "";
  }

  bool ServerForgotStatement(const PGresult* r) const {
    if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) return false;
    std::string_view state = SqlState(r);
    if (state == "26000") return true;  // invalid_sql_statement_name
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return state == "0A000" && primary != nullptr &&
           std::strstr(primary, "cached plan must not change result type") != nullptr;
  }

  Status CheckHealthy() {
    if (healthy()) return Status::Ok();
    healthy_ = false;
    return Unavailable("the connection to " + where_ + " is broken");
  }

  Result<const Prepared*> Prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = statements_.find(key); it != statements_.end()) return &it->second;
    if (statements_.size() >= kMaxCachedStatements) {
      PgResultPtr r(PQexec(conn_.get(), "DEALLOCATE ALL"));
      if (!Succeeded(r.get())) return ErrorFrom(r.get());
      statements_.clear();
    }
    Prepared p;
    p.name = "s" + std::to_string(++statement_counter_);
    PgResultPtr prepared(PQprepare(conn_.get(), p.name.c_str(), key.c_str(), 0, nullptr));
    if (!Succeeded(prepared.get())) return ErrorFrom(prepared.get());
    // The parameter count lets Query refuse a short parameter list with a clear message
    // instead of a protocol error from the server.
    PgResultPtr described(PQdescribePrepared(conn_.get(), p.name.c_str()));
    if (!Succeeded(described.get())) return ErrorFrom(described.get());
    p.param_count = static_cast<size_t>(PQnparams(described.get()));
    return &statements_.emplace(std::move(key), std::move(p)).first->second;
  }

  // Classifies a failed result (or a null one: libpq could not even send).
  Status ErrorFrom(const PGresult* r) {
    std::string_view state = SqlState(r);
    std::string message;
    const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    if (primary != nullptr) {
      message = primary;
      if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) {
        message += ": ";
        message += detail;
      }
    } else {
      message = OneLine(r ? PQresultErrorMessage(r) : "");
      if (message.empty()) message = OneLine(PQerrorMessage(conn_.get()));
    }
    if (PQstatus(conn_.get()) == CONNECTION_BAD || state.starts_with("08") || state == "57P01" ||
        state == "57P02" || state == "57P03") {
      healthy_ = false;
      return Unavailable("connection to PostgreSQL at " + where_ + " lost: " + message);
    }
    if (r != nullptr) {
      switch (PQresultStatus(r)) {
        case PGRES_EMPTY_QUERY:
          return Internal("empty statement");
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
          healthy_ = false;  // the session is stuck in COPY mode
          return Internal("COPY is not supported through this interface");
        default:
          break;
      }
    }
    if (state == "23505") return AlreadyExists(message, "UNIQUE_VIOLATION");
    if (state == "23503") return FailedPrecondition(message, "FOREIGN_KEY_VIOLATION");
    if (state == "23502" || state == "23514" || state.starts_with("22")) {
      return InvalidArgument(message);
    }
    if (state == "40001" || state == "40P01") return Aborted(message);
    return Internal(message);
  }

  PgConnPtr conn_;
  const std::string where_;  // host:port/database
  bool healthy_ = true;
  std::unordered_map<std::string, Prepared> statements_;
  uint64_t statement_counter_ = 0;
};

}  // namespace

std::string PostgresOptions::Describe() const {
  return host + ":" + std::to_string(port) + "/" + database;
}

Result<std::unique_ptr<Connection>> OpenPostgres(const PostgresOptions& options) {
  ASSIGN_OR_RETURN(PgConnPtr conn, postgres::Connect(options));
  return std::unique_ptr<Connection>(
      std::make_unique<PostgresConnection>(std::move(conn), options.Describe()));
}

}  // namespace slipway::db
